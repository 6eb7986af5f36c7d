package render

import (
	"testing"

	"github.com/stretchr/testify/assert"
	rbacv1 "k8s.io/api/rbac/v1"
)

// grants expands rules into "group resource name verb" lines, "" standing
// for a rule without names (every object).
func grants(rules []rbacv1.PolicyRule) map[[4]string]bool {
	out := map[[4]string]bool{}
	for _, r := range rules {
		names := r.ResourceNames
		if len(names) == 0 {
			names = []string{"*every object*"}
		}
		for _, g := range r.APIGroups {
			for _, res := range r.Resources {
				for _, n := range names {
					for _, v := range r.Verbs {
						out[[4]string{g, res, n, v}] = true
					}
				}
			}
		}
	}
	return out
}

func TestNormalizeRulesGrantsExactlyWhatItIsGiven(t *testing.T) {
	rule := func(group, resource string, names []string, verbs ...string) rbacv1.PolicyRule {
		return rbacv1.PolicyRule{APIGroups: []string{group}, Resources: []string{resource}, ResourceNames: names, Verbs: verbs}
	}
	for name, tc := range map[string]struct {
		rules      []rbacv1.PolicyRule
		mergedInto int // how many rules normalizeRules may return
	}{
		"a group holding the separator does not merge with a name holding it": {
			rules: []rbacv1.PolicyRule{
				rule("", "configmaps", []string{"x|y"}, "get"),
				rule("|x", "secrets", []string{"y"}, "get"),
			},
			mergedInto: 2,
		},
		"group g|x with name y stays apart from group g with name x|y": {
			rules: []rbacv1.PolicyRule{
				rule("g", "widgets", []string{"x|y"}, "get"),
				rule("g|x", "gadgets", []string{"y"}, "get"),
			},
			mergedInto: 2,
		},
		"a name holding a comma does not merge with two names": {
			rules: []rbacv1.PolicyRule{
				rule("", "secrets", []string{"a", "b"}, "get"),
				rule("", "configmaps", []string{"a,b"}, "get"),
			},
			mergedInto: 2,
		},
		"verbs holding a comma do not merge with two verbs": {
			rules: []rbacv1.PolicyRule{
				rule("", "secrets", nil, "get", "list"),
				rule("", "configmaps", nil, "get,list"),
			},
			mergedInto: 2,
		},
		"the same verbs on the same names in one group merge, in any order": {
			rules: []rbacv1.PolicyRule{
				rule("", "secrets", []string{"b", "a"}, "list", "get"),
				rule("", "configmaps", []string{"a", "b"}, "get", "list"),
			},
			mergedInto: 1,
		},
		"every object and named objects do not merge": {
			rules: []rbacv1.PolicyRule{
				rule("", "secrets", nil, "get"),
				rule("", "configmaps", []string{"settings"}, "get"),
			},
			mergedInto: 2,
		},
	} {
		t.Run(name, func(t *testing.T) {
			out := normalizeRules(tc.rules)
			assert.Equal(t, grants(tc.rules), grants(out))
			assert.Len(t, out, tc.mergedInto)
		})
	}
}
