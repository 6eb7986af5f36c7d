package compat

import (
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
)

type extension struct {
	name string
	id   string
	get  func(p *apiextensionsv1.JSONSchemaProps) string
	why  string
}

var extensions = []extension{
	{"x-kubernetes-preserve-unknown-fields", RulePreserveUnknownFieldsChanged, func(p *apiextensionsv1.JSONSchemaProps) string {
		return boolString(p.XPreserveUnknownFields != nil && *p.XPreserveUnknownFields)
	}, "unknown fields are pruned, or kept, differently from now on"},
	{"x-kubernetes-int-or-string", RuleIntOrStringChanged, func(p *apiextensionsv1.JSONSchemaProps) string {
		return boolString(p.XIntOrString)
	}, "the accepted value types changed"},
	{"x-kubernetes-embedded-resource", RuleEmbeddedResourceChanged, func(p *apiextensionsv1.JSONSchemaProps) string {
		return boolString(p.XEmbeddedResource)
	}, "apiVersion, kind and metadata are validated differently"},
	{"x-kubernetes-list-type", RuleListTypeChanged, func(p *apiextensionsv1.JSONSchemaProps) string {
		return stringOr(p.XListType, "atomic")
	}, "server-side apply merges the list differently and may reject existing lists"},
	{"x-kubernetes-map-type", RuleMapTypeChanged, func(p *apiextensionsv1.JSONSchemaProps) string {
		return stringOr(p.XMapType, "granular")
	}, "server-side apply merges the object differently"},
}

func stringOr(p *string, unset string) string {
	if p == nil || *p == "" {
		return unset
	}
	return *p
}

func checkExtensions(c *collector, n *node) {
	for _, e := range extensions {
		if o, nw := e.get(n.old), e.get(n.new); o != nw {
			c.add(n.finding(e.id, o, nw, e.name+" changed from "+o+" to "+nw+": "+e.why))
		}
	}
}

func checkListMapKeys(c *collector, n *node) {
	removed, added := setDiff(n.old.XListMapKeys, n.new.XListMapKeys)
	if len(removed) > 0 || len(added) > 0 {
		o, nw := sortedUnique(n.old.XListMapKeys), sortedUnique(n.new.XListMapKeys)
		c.add(n.finding(RuleListMapKeysChanged, join(o), join(nw),
			"x-kubernetes-list-map-keys changed: list entries are identified by other keys"))
	}
}

// apKind classifies additionalProperties from most to least permissive.
func apKind(ap *apiextensionsv1.JSONSchemaPropsOrBool) string {
	switch {
	case ap == nil:
		return "unset"
	case ap.Schema != nil:
		return "schema"
	case ap.Allows:
		return "true"
	default:
		return "false"
	}
}

func checkAdditionalProperties(c *collector, n *node) {
	o, nw := apKind(n.old.AdditionalProperties), apKind(n.new.AdditionalProperties)
	rank := map[string]int{"unset": 0, "false": 0, "schema": 1, "true": 2}
	switch {
	case rank[o] == rank[nw]:
		// Both schemas: the walk compares them at path[*].
	case rank[nw] < rank[o]:
		c.add(n.finding(RuleAdditionalPropertiesNarrowed, o, nw,
			"additionalProperties narrowed from "+o+" to "+nw+": map entries that were valid may be pruned or rejected"))
	default:
		c.add(n.finding(RuleAdditionalPropertiesWidened, o, nw, "additionalProperties widened from "+o+" to "+nw))
	}
}
