package compat

import (
	"encoding/json"
	"sort"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
)

// crdRule is one whole-CRD check. name identifies the check in tests
// and errors; the findings it emits carry their own rule IDs.
type crdRule struct {
	name  string
	check func(c *collector, oldCRD, newCRD *apiextensionsv1.CustomResourceDefinition)
}

// crdRules run once per CRD pair, before the per-version rules.
var crdRules = []crdRule{
	{"scope", checkScope},
	{"names", checkNames},
	{"short-names", checkShortNames},
	{"categories", checkCategories},
	{"versions", checkVersions},
	{"storage-version", checkStorageVersion},
	{"stored-versions", checkStoredVersions},
	{"conversion", checkConversion},
	{"preserve-unknown-fields", checkCRDPreserveUnknownFields},
	{"unknown", checkCRDResidue},
}

// versionRule is one check of a version present in both CRDs.
type versionRule struct {
	name  string
	check func(c *collector, oldV, newV *apiextensionsv1.CustomResourceDefinitionVersion)
}

// versionRules run for every version present in both CRDs.
var versionRules = []versionRule{
	{"served", checkServed},
	{"deprecation", checkDeprecation},
	{"status-subresource", checkStatusSubresource},
	{"scale-subresource", checkScaleSubresource},
	{"printer-columns", checkPrinterColumns},
	{"selectable-fields", checkSelectableFields},
	{"schema", checkVersionSchema},
	{"unknown", checkVersionResidue},
}

func compareCRDs(c *collector, oldCRD, newCRD *apiextensionsv1.CustomResourceDefinition) {
	for _, r := range crdRules {
		r.check(c, oldCRD, newCRD)
	}
	newByName := versionsByName(newCRD)
	for i := range oldCRD.Spec.Versions {
		oldV := &oldCRD.Spec.Versions[i]
		newV, ok := newByName[oldV.Name]
		if !ok {
			continue
		}
		for _, r := range versionRules {
			r.check(c, oldV, newV)
		}
	}
}

func versionsByName(crd *apiextensionsv1.CustomResourceDefinition) map[string]*apiextensionsv1.CustomResourceDefinitionVersion {
	m := make(map[string]*apiextensionsv1.CustomResourceDefinitionVersion, len(crd.Spec.Versions))
	for i := range crd.Spec.Versions {
		m[crd.Spec.Versions[i].Name] = &crd.Spec.Versions[i]
	}
	return m
}

func checkScope(c *collector, o, n *apiextensionsv1.CustomResourceDefinition) {
	if o.Spec.Scope != n.Spec.Scope {
		c.add(crdFinding(RuleScopeChanged, string(o.Spec.Scope), string(n.Spec.Scope),
			"scope changed from "+string(o.Spec.Scope)+" to "+string(n.Spec.Scope)+": existing objects and every client's URLs no longer fit"))
	}
}

func checkNames(c *collector, o, n *apiextensionsv1.CustomResourceDefinition) {
	pairs := []struct {
		id, field, old, new string
	}{
		{RuleGroupChanged, "group", o.Spec.Group, n.Spec.Group},
		{RuleKindChanged, "kind", o.Spec.Names.Kind, n.Spec.Names.Kind},
		{RulePluralChanged, "plural", o.Spec.Names.Plural, n.Spec.Names.Plural},
		{RuleSingularChanged, "singular", singularOf(o), singularOf(n)},
		{RuleListKindChanged, "listKind", listKindOf(o), listKindOf(n)},
	}
	for _, p := range pairs {
		if p.old != p.new {
			c.add(crdFinding(p.id, p.old, p.new,
				p.field+" changed from "+quote(p.old)+" to "+quote(p.new)+": clients addressing the old name fail"))
		}
	}
}

// singularOf and listKindOf apply the API server's defaults, so that
// spelling out the default is no change.
func singularOf(crd *apiextensionsv1.CustomResourceDefinition) string {
	if crd.Spec.Names.Singular != "" {
		return crd.Spec.Names.Singular
	}
	return asciiLower(crd.Spec.Names.Kind)
}

func listKindOf(crd *apiextensionsv1.CustomResourceDefinition) string {
	if crd.Spec.Names.ListKind != "" {
		return crd.Spec.Names.ListKind
	}
	if crd.Spec.Names.Kind == "" {
		return ""
	}
	return crd.Spec.Names.Kind + "List"
}

func checkShortNames(c *collector, o, n *apiextensionsv1.CustomResourceDefinition) {
	removed, added := setDiff(o.Spec.Names.ShortNames, n.Spec.Names.ShortNames)
	if len(removed) > 0 {
		c.add(crdFinding(RuleShortNameRemoved, join(removed), "",
			"short name "+join(removed)+" removed: kubectl commands and scripts using it fail"))
	}
	if len(added) > 0 {
		c.add(crdFinding(RuleShortNameAdded, "", join(added), "short name "+join(added)+" added"))
	}
}

func checkCategories(c *collector, o, n *apiextensionsv1.CustomResourceDefinition) {
	removed, added := setDiff(o.Spec.Names.Categories, n.Spec.Names.Categories)
	if len(removed) > 0 {
		c.add(crdFinding(RuleCategoryRemoved, join(removed), "",
			"category "+join(removed)+" removed: `kubectl get "+removed[0]+"` no longer lists this resource"))
	}
	if len(added) > 0 {
		c.add(crdFinding(RuleCategoryAdded, "", join(added), "category "+join(added)+" added"))
	}
}

func checkVersions(c *collector, o, n *apiextensionsv1.CustomResourceDefinition) {
	oldByName, newByName := versionsByName(o), versionsByName(n)
	for name := range oldByName {
		if _, ok := newByName[name]; !ok {
			c.add(versionFinding(RuleVersionRemoved, name, name, "",
				"version "+name+" removed: clients using it fail"))
		}
	}
	for name := range newByName {
		if _, ok := oldByName[name]; !ok {
			c.add(versionFinding(RuleVersionAdded, name, "", name, "version "+name+" added"))
		}
	}
}

func storageVersionOf(crd *apiextensionsv1.CustomResourceDefinition) string {
	for _, v := range crd.Spec.Versions {
		if v.Storage {
			return v.Name
		}
	}
	return ""
}

func checkStorageVersion(c *collector, o, n *apiextensionsv1.CustomResourceDefinition) {
	os, ns := storageVersionOf(o), storageVersionOf(n)
	if os == ns {
		return
	}
	additions, ok := storageMovedToSuperset(o, n, os, ns)
	switch {
	case ok && len(additions) == 0:
		c.add(crdFinding(RuleStorageVersionMovedSameSchema, os, ns,
			"storage version moved from "+os+" to "+ns+", a new version with the same schema: no object reads differently, "+
				"but objects stay stored as "+os+" until a storage migration rewrites them; keep "+os+" defined while status.storedVersions lists it"))
	case ok:
		c.add(crdFinding(RuleStorageVersionMovedSuperset, os, ns,
			"storage version moved from "+os+" to "+ns+", a new version whose schema only adds to "+os+"'s ("+join(additions)+
				"): every stored object reads as before and still validates, "+
				"but objects stay stored as "+os+" until a storage migration rewrites them; keep "+os+" defined while status.storedVersions lists it"))
	default:
		c.add(crdFinding(RuleStorageVersionChanged, os, ns,
			"storage version moved from "+quote(os)+" to "+quote(ns)+": objects are stored in another version from now on and need a storage migration"))
	}
}

// storageMovedToSuperset reports whether the storage version moved from os
// to ns, a version the old CRD did not have, with conversion None, and the
// schema of ns accepts everything the schema of os accepted: compared as a
// change from os to ns, it has no breaking finding. Objects are then read
// by rewriting apiVersion, so none reads or validates differently. additions
// lists the rules of the non-breaking findings, sorted; empty when the two
// schemas compare equal. Anything else is ok false: the move is breaking.
func storageMovedToSuperset(o, n *apiextensionsv1.CustomResourceDefinition, os, ns string) (additions []string, ok bool) {
	if os == "" || ns == "" || conversionStrategyOf(n) != string(apiextensionsv1.NoneConverter) {
		return nil, false
	}
	if _, existed := versionsByName(o)[ns]; existed {
		return nil, false
	}
	oldV, newV := versionsByName(o)[os], versionsByName(n)[ns]
	if oldV == nil || newV == nil {
		return nil, false
	}
	// The old CRD is known, so that a field counts as new only when no
	// version of it declared the field (guarded CEL rules rely on that).
	sub := &collector{oldCRD: o}
	compareRootSchemas(sub, ns, versionSchemaOf(oldV), versionSchemaOf(newV))
	r := Report{Findings: sub.findings}
	if r.Breaking() {
		return nil, false
	}
	seen := map[string]bool{}
	for _, f := range r.Findings {
		if !seen[f.Rule] {
			seen[f.Rule] = true
			additions = append(additions, f.Rule)
		}
	}
	sort.Strings(additions)
	return additions, true
}

func checkStoredVersions(c *collector, o, n *apiextensionsv1.CustomResourceDefinition) {
	newByName := versionsByName(n)
	for _, sv := range sortedUnique(o.Status.StoredVersions) {
		if _, ok := newByName[sv]; !ok {
			c.add(versionFinding(RuleStoredVersionRemoved, sv, sv, "",
				"version "+sv+" is in status.storedVersions but no longer defined: objects stored in it can no longer be read"))
		}
	}
}

func conversionStrategyOf(crd *apiextensionsv1.CustomResourceDefinition) string {
	if crd.Spec.Conversion == nil || crd.Spec.Conversion.Strategy == "" {
		return string(apiextensionsv1.NoneConverter)
	}
	return string(crd.Spec.Conversion.Strategy)
}

func checkConversion(c *collector, o, n *apiextensionsv1.CustomResourceDefinition) {
	os, ns := conversionStrategyOf(o), conversionStrategyOf(n)
	switch {
	case os == ns:
	case len(o.Spec.Versions) > 1:
		c.add(crdFinding(RuleConversionStrategyChanged, os, ns,
			"conversion strategy changed from "+os+" to "+ns+": objects read in another version than stored come out differently"))
		return
	case ns == string(apiextensionsv1.WebhookConverter) && len(n.Spec.Versions) > 1:
		c.add(crdFinding(RuleConversionWebhookAdded, os, ns,
			"webhook conversion introduced together with a new version; the CRD had one version, so no existing client reads a version other than the stored one"))
		return
	default:
		c.add(crdFinding(RuleConversionStrategyChanged, os, ns,
			"conversion strategy changed from "+os+" to "+ns+"; the CRD had one version, so no object was read in another version, "+
				"but bindsync does not judge conversion between versions; treated as breaking"))
		return
	}
	var ow, nw *apiextensionsv1.WebhookConversion
	if o.Spec.Conversion != nil {
		ow = o.Spec.Conversion.Webhook
	}
	if n.Spec.Conversion != nil {
		nw = n.Spec.Conversion.Webhook
	}
	if oj, nj := marshal(ow), marshal(nw); oj != nj {
		c.add(crdFinding(RuleConversionWebhookChanged, oj, nj, "conversion webhook settings changed"))
	}
}

func checkCRDPreserveUnknownFields(c *collector, o, n *apiextensionsv1.CustomResourceDefinition) {
	if o.Spec.PreserveUnknownFields != n.Spec.PreserveUnknownFields {
		c.add(crdFinding(RulePreserveUnknownFieldsChanged,
			boolString(o.Spec.PreserveUnknownFields), boolString(n.Spec.PreserveUnknownFields),
			"spec.preserveUnknownFields changed: unknown fields are pruned, or kept, differently from now on"))
	}
}

// checkCRDResidue fails closed on CRD spec fields no rule reads.
func checkCRDResidue(c *collector, o, n *apiextensionsv1.CustomResourceDefinition) {
	blank := func(crd *apiextensionsv1.CustomResourceDefinition) string {
		s := crd.Spec
		s.Group, s.Scope, s.Versions, s.Conversion, s.PreserveUnknownFields = "", "", nil, nil, false
		s.Names.Plural, s.Names.Singular, s.Names.Kind, s.Names.ListKind = "", "", "", ""
		s.Names.ShortNames, s.Names.Categories = nil, nil
		return marshal(s)
	}
	if oj, nj := blank(o), blank(n); oj != nj {
		c.add(crdFinding(RuleUnknownChange, oj, nj, "the CRD spec changed in a way no rule understands; treated as breaking"))
	}
}

func checkServed(c *collector, o, n *apiextensionsv1.CustomResourceDefinitionVersion) {
	switch {
	case o.Served && !n.Served:
		c.add(versionFinding(RuleVersionUnserved, n.Name, "served", "not served",
			"version "+n.Name+" is no longer served: clients using it fail"))
	case !o.Served && n.Served:
		c.add(versionFinding(RuleVersionServed, n.Name, "not served", "served", "version "+n.Name+" is served again"))
	}
}

func checkDeprecation(c *collector, o, n *apiextensionsv1.CustomResourceDefinitionVersion) {
	describe := func(v *apiextensionsv1.CustomResourceDefinitionVersion) string {
		if !v.Deprecated {
			return ""
		}
		if v.DeprecationWarning != nil {
			return "deprecated: " + *v.DeprecationWarning
		}
		return "deprecated"
	}
	if od, nd := describe(o), describe(n); od != nd {
		c.add(versionFinding(RuleVersionDeprecationChanged, n.Name, od, nd,
			"version "+n.Name+" deprecation changed; clients see another warning"))
	}
}

func hasStatus(v *apiextensionsv1.CustomResourceDefinitionVersion) bool {
	return v.Subresources != nil && v.Subresources.Status != nil
}

func checkStatusSubresource(c *collector, o, n *apiextensionsv1.CustomResourceDefinitionVersion) {
	switch os, ns := hasStatus(o), hasStatus(n); {
	case os && !ns:
		c.add(versionFinding(RuleStatusSubresourceRemoved, n.Name, "enabled", "",
			"status subresource removed: requests to /status fail and status is written with the main resource"))
	case !os && ns:
		c.add(versionFinding(RuleStatusSubresourceAdded, n.Name, "", "enabled",
			"status subresource added: status written through the main resource is now ignored, writers must use /status"))
	}
}

func scaleOf(v *apiextensionsv1.CustomResourceDefinitionVersion) *apiextensionsv1.CustomResourceSubresourceScale {
	if v.Subresources == nil {
		return nil
	}
	return v.Subresources.Scale
}

func checkScaleSubresource(c *collector, o, n *apiextensionsv1.CustomResourceDefinitionVersion) {
	os, ns := scaleOf(o), scaleOf(n)
	switch {
	case os == nil && ns == nil:
	case os == nil:
		c.add(versionFinding(RuleScaleSubresourceAdded, n.Name, "", marshal(ns), "scale subresource added"))
	case ns == nil:
		c.add(versionFinding(RuleScaleSubresourceRemoved, n.Name, marshal(os), "",
			"scale subresource removed: autoscalers and kubectl scale fail"))
	default:
		if oj, nj := marshal(os), marshal(ns); oj != nj {
			c.add(versionFinding(RuleScaleSubresourceChanged, n.Name, oj, nj,
				"scale subresource paths changed: autoscalers read and write other fields"))
		}
	}
}

func checkPrinterColumns(c *collector, o, n *apiextensionsv1.CustomResourceDefinitionVersion) {
	if oj, nj := marshal(o.AdditionalPrinterColumns), marshal(n.AdditionalPrinterColumns); oj != nj {
		c.add(versionFinding(RulePrinterColumnsChanged, n.Name, columnNames(o), columnNames(n),
			"printer columns changed; only kubectl get output differs"))
	}
}

func columnNames(v *apiextensionsv1.CustomResourceDefinitionVersion) string {
	names := make([]string, 0, len(v.AdditionalPrinterColumns))
	for _, col := range v.AdditionalPrinterColumns {
		names = append(names, col.Name)
	}
	return join(names)
}

func checkSelectableFields(c *collector, o, n *apiextensionsv1.CustomResourceDefinitionVersion) {
	paths := func(v *apiextensionsv1.CustomResourceDefinitionVersion) []string {
		out := make([]string, 0, len(v.SelectableFields))
		for _, f := range v.SelectableFields {
			out = append(out, f.JSONPath)
		}
		return out
	}
	removed, added := setDiff(paths(o), paths(n))
	for _, p := range removed {
		c.add(versionFinding(RuleSelectableFieldRemoved, n.Name, p, "",
			"selectable field "+p+" removed: field selectors on it fail"))
	}
	for _, p := range added {
		c.add(versionFinding(RuleSelectableFieldAdded, n.Name, "", p, "selectable field "+p+" added"))
	}
}

func versionSchemaOf(v *apiextensionsv1.CustomResourceDefinitionVersion) *apiextensionsv1.JSONSchemaProps {
	if v.Schema == nil {
		return nil
	}
	return v.Schema.OpenAPIV3Schema
}

func checkVersionSchema(c *collector, o, n *apiextensionsv1.CustomResourceDefinitionVersion) {
	compareRootSchemas(c, n.Name, versionSchemaOf(o), versionSchemaOf(n))
}

// checkVersionResidue fails closed on version fields no rule reads.
func checkVersionResidue(c *collector, o, n *apiextensionsv1.CustomResourceDefinitionVersion) {
	blank := func(v *apiextensionsv1.CustomResourceDefinitionVersion) string {
		r := *v
		r.Name, r.Served, r.Storage, r.Deprecated, r.DeprecationWarning = "", false, false, false, nil
		r.Schema, r.AdditionalPrinterColumns, r.SelectableFields = nil, nil, nil
		if r.Subresources != nil {
			sub := *r.Subresources
			sub.Status, sub.Scale = nil, nil
			r.Subresources = &sub
			if marshal(sub) == "{}" {
				r.Subresources = nil // an empty stanza is no stanza
			}
		}
		return marshal(r)
	}
	if oj, nj := blank(o), blank(n); oj != nj {
		c.add(versionFinding(RuleUnknownChange, n.Name, oj, nj,
			"version "+n.Name+" changed in a way no rule understands; treated as breaking"))
	}
}

// setDiff returns the values only in old and only in new, sorted.
func setDiff(old, new []string) (removed, added []string) {
	if len(old) == 0 && len(new) == 0 {
		return nil, nil
	}
	inOld := make(map[string]bool, len(old))
	for _, s := range old {
		inOld[s] = true
	}
	inNew := make(map[string]bool, len(new))
	for _, s := range new {
		inNew[s] = true
	}
	for s := range inOld {
		if !inNew[s] {
			removed = append(removed, s)
		}
	}
	for s := range inNew {
		if !inOld[s] {
			added = append(added, s)
		}
	}
	sort.Strings(removed)
	sort.Strings(added)
	return removed, added
}

func sortedUnique(in []string) []string {
	out := make([]string, 0, len(in))
	seen := make(map[string]bool, len(in))
	for _, s := range in {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	sort.Strings(out)
	return out
}

// marshal renders v as JSON for comparison and display; encoding/json
// sorts map keys, so equal values give equal strings. Values that cannot be
// encoded yield a marker string, which differs from any JSON.
func marshal(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return "<unencodable: " + err.Error() + ">"
	}
	return string(b)
}

func quote(s string) string {
	if s == "" {
		return `""`
	}
	return s
}

func boolString(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

func asciiLower(s string) string {
	b := []byte(s)
	for i, ch := range b {
		if ch >= 'A' && ch <= 'Z' {
			b[i] = ch + 'a' - 'A'
		}
	}
	return string(b)
}
