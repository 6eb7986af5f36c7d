package render

import (
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/bindsync/bindsync/api/v1alpha1"
	"github.com/bindsync/bindsync/internal/staterepo"
)

// checkTemplate resolves a template's CRDs and validates its spec. It returns
// a reason and message when the template cannot be rendered.
func (r *renderer) checkTemplate(e *templateEntry) (reason, msg string) {
	spec := e.tpl.Spec
	if len(spec.Resources) == 0 {
		return v1alpha1.InvalidTemplateReason, "spec.resources is empty"
	}
	seen := map[string]bool{}
	for i, res := range spec.Resources {
		name := res.String()
		if seen[name] {
			return v1alpha1.InvalidTemplateReason, fmt.Sprintf("spec.resources[%d]: %s is listed twice", i, name)
		}
		seen[name] = true
		if m := checkGroup(res.Group); m != "" {
			return v1alpha1.InvalidTemplateReason, fmt.Sprintf("spec.resources[%d]: %s", i, m)
		}
		if forbiddenGroups[res.Group] {
			return v1alpha1.InvalidTemplateReason, fmt.Sprintf("spec.resources[%d]: %s cannot be bound: it would let an app cluster widen its own access", i, name)
		}
		if staterepo.IsBuiltinGroup(res.Group) {
			return v1alpha1.InvalidTemplateReason, fmt.Sprintf("spec.resources[%d]: %s cannot be bound: group %q is served by Kubernetes itself, and RBAC cannot tell a CRD there from a built-in resource", i, name, res.Group)
		}
		crd, ok := r.crds[name]
		if !ok {
			return v1alpha1.CRDNotFoundReason, fmt.Sprintf("spec.resources[%d]: no CRD %s on the control plane", i, name)
		}
		if err := r.snapshot(crd); err != nil {
			return v1alpha1.InvalidCRDReason, fmt.Sprintf("spec.resources[%d]: CRD %s cannot be exported", i, name)
		}
		e.crds = append(e.crds, crd)
	}
	for i, claim := range spec.PermissionClaims {
		if m := checkClaim(claim, spec.Resources); m != "" {
			return v1alpha1.InvalidTemplateReason, fmt.Sprintf("spec.permissionClaims[%d] %s: %s", i, claimName(claim), m)
		}
		if m := checkClaimSync(claim, spec.Resources, fmt.Sprintf("spec.permissionClaims[%d]", i)); m != "" {
			return v1alpha1.InvalidTemplateReason, m
		}
	}
	if p := spec.SchemaUpdatePolicy; p != "" && p != v1alpha1.SchemaUpdateNonBreaking &&
		p != v1alpha1.SchemaUpdateAlways && p != v1alpha1.SchemaUpdateNever {
		return v1alpha1.InvalidTemplateReason, fmt.Sprintf("spec.schemaUpdatePolicy %q is not NonBreaking, Always or Never", p)
	}
	if a := spec.Approval; a != "" && a != v1alpha1.ApprovalAutomatic && a != v1alpha1.ApprovalManual {
		return v1alpha1.InvalidTemplateReason, fmt.Sprintf("spec.approval %q is not Automatic or Manual", a)
	}
	for i, claim := range spec.PermissionClaims {
		if m := ineffectiveNames(claim); m != "" {
			r.warnings.add(kindTemplate, "", e.tpl.Name, v1alpha1.IneffectiveClaimReason, fmt.Sprintf("spec.permissionClaims[%d] %s: %s", i, claimName(claim), m))
		}
	}
	for _, crd := range e.crds {
		if len(crd.snap.DroppedVersions) > 0 && !crd.warned {
			crd.warned = true
			r.warnings.add(kindCRD, "", crd.crd.Name, v1alpha1.UnsupportedConversionReason, fmt.Sprintf(
				"uses webhook conversion, which app clusters cannot reach: only storage version %s is exported; served versions %s are left out",
				storageVersion(crd.snap), strings.Join(crd.snap.DroppedVersions, ", ")))
		}
	}
	return "", ""
}

// claimName names a claim in messages by its group and resource, quoted, so
// that a claim on the core group and a group holding odd characters both read
// unambiguously.
func claimName(c v1alpha1.PermissionClaim) string {
	return fmt.Sprintf("(group %q, resource %q)", c.Group, c.Resource)
}

// checkGroup says why group cannot name an API group, or "": it must be
// empty (the core group) or a DNS subdomain, so no separator or wildcard can
// hide in it.
func checkGroup(group string) string {
	if group == "" {
		return ""
	}
	if errs := validation.IsDNS1123Subdomain(group); len(errs) > 0 {
		return fmt.Sprintf("group %q is neither empty (the core group) nor a DNS subdomain", group)
	}
	return ""
}

// checkClaim says why a permission claim cannot be rendered, or "". Claims are
// an allowlist: Secrets and ConfigMaps of the core group, and resources in the
// (not built-in) groups of the template's own bound resources. Everything
// else (pods, namespaces, resourcequotas, leases, serviceaccounts, any
// sub-resource) is refused, because each would let an app cluster act on the
// control plane beyond the objects it binds.
func checkClaim(c v1alpha1.PermissionClaim, bound []v1alpha1.GroupResource) string {
	if m := checkGroup(c.Group); m != "" {
		return m
	}
	if errs := validation.IsDNS1123Label(c.Resource); len(errs) > 0 {
		return fmt.Sprintf("resource %q is not a plain resource name: wildcards and sub-resources (such as pods/exec or serviceaccounts/token) cannot be claimed", c.Resource)
	}
	if c.Group == "" {
		if !slices.Contains(v1alpha1.ClaimableCoreResources, c.Resource) {
			return fmt.Sprintf("core resource %q cannot be claimed: of the core group only %s are claimable",
				c.Resource, strings.Join(v1alpha1.ClaimableCoreResources, " and "))
		}
	} else {
		var groups []string
		for _, b := range bound {
			if !slices.Contains(groups, b.Group) {
				groups = append(groups, b.Group)
			}
		}
		switch {
		case forbiddenGroups[c.Group]:
			return fmt.Sprintf("group %q cannot be claimed: it would let an app cluster widen its own access", c.Group)
		case staterepo.IsBuiltinGroup(c.Group):
			return fmt.Sprintf("group %q cannot be claimed: it is served by Kubernetes itself, and RBAC cannot tell a CRD there from a built-in resource", c.Group)
		case !slices.Contains(groups, c.Group):
			sort.Strings(groups)
			return fmt.Sprintf("group %q is not the group of a resource this template binds (%s): only secrets, configmaps and resources of those groups are claimable",
				c.Group, strings.Join(groups, ", "))
		}
	}
	if len(c.Verbs) == 0 {
		return "verbs is empty"
	}
	for _, v := range c.Verbs {
		if !slices.Contains(v1alpha1.ClaimVerbs, v) {
			return fmt.Sprintf("verb %q is not one of %s", v, joinVerbs(v1alpha1.ClaimVerbs))
		}
	}
	for i, n := range c.ResourceNames {
		if n == "" {
			return fmt.Sprintf("resourceNames[%d] is empty: RBAC matches an empty name against list and create requests, which name no object, so it would grant every object", i)
		}
		if errs := validation.IsDNS1123Subdomain(n); len(errs) > 0 {
			return fmt.Sprintf("resourceNames[%d] %q is not a DNS subdomain", i, n)
		}
	}
	return ""
}

// claimPath is a reference's jsonPath: dotted plain field names, as the CRD
// pattern says. Input from files is not checked by an API server, so render
// checks it too: the agent reads the field with no evaluator at all.
var claimPath = regexp.MustCompile(`^(\.[A-Za-z_][A-Za-z0-9_-]*)+$`)

// checkClaimSync says why the fields instance sync reads of a claim (owner,
// references) cannot be used, or "", naming the field from at: the owner is
// Provider or Consumer, and each reference names a resource the template
// binds by a dotted plain field path, so no claim can select objects by the
// fields of anything the app cluster does not bind.
func checkClaimSync(c v1alpha1.PermissionClaim, bound []v1alpha1.GroupResource, at string) string {
	if o := c.Owner; o != "" && o != v1alpha1.ClaimOwnerProvider && o != v1alpha1.ClaimOwnerConsumer {
		return fmt.Sprintf("%s.owner %q is not Provider or Consumer", at, o)
	}
	for j, ref := range c.References {
		where := fmt.Sprintf("%s.references[%d]", at, j)
		gr := v1alpha1.GroupResource{Group: ref.Group, Resource: ref.Resource}
		if !slices.Contains(bound, gr) {
			return fmt.Sprintf("%s: (group %q, resource %q) is not a resource this template binds (spec.resources)", where, ref.Group, ref.Resource)
		}
		if len(ref.JSONPath) > 256 || !claimPath.MatchString(ref.JSONPath) {
			return fmt.Sprintf("%s: jsonPath %q is not a dotted path of plain field names (such as .spec.writeConnectionSecretToRef.name)", where, ref.JSONPath)
		}
	}
	return ""
}

func joinVerbs(verbs []v1alpha1.Verb) string {
	s := make([]string, len(verbs))
	for i, v := range verbs {
		s[i] = string(v)
	}
	return strings.Join(s, ", ")
}

// ineffectiveNames says which verbs of a claim Kubernetes RBAC will not allow
// as asked because the claim names objects. RBAC matches resourceNames against
// the name a request carries: create and deletecollection never carry one, so
// they are never allowed; list and watch carry one only when they select a
// single object by name (field selector metadata.name=<name>), so only such
// requests are allowed.
func ineffectiveNames(c v1alpha1.PermissionClaim) string {
	if len(c.ResourceNames) == 0 {
		return ""
	}
	var never, byName []string
	for _, v := range c.Verbs {
		switch v {
		case "create", "deletecollection":
			never = append(never, string(v))
		case "list", "watch":
			byName = append(byName, string(v))
		}
	}
	sort.Strings(never)
	sort.Strings(byName)
	var parts []string
	if len(byName) > 0 {
		parts = append(parts, fmt.Sprintf("RBAC allows %s only for requests that select one named object (field selector metadata.name=<name>), never for all of them",
			strings.Join(byName, " and ")))
	}
	if len(never) > 0 {
		parts = append(parts, fmt.Sprintf("RBAC never allows %s on named objects", strings.Join(never, " or ")))
	}
	if len(parts) == 0 {
		return ""
	}
	return "with resourceNames, " + strings.Join(parts, "; ")
}
