package schema

import (
	"encoding/json"
	"sort"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
)

// compatCRDRule is one whole-CRD check. name identifies the check in tests
// and errors; the findings it emits carry their own rule IDs.
type compatCRDRule struct {
	name  string
	check func(c *compatCollector, oldCRD, newCRD *apiextensionsv1.CustomResourceDefinition)
}

// compatCRDRules run once per CRD pair, before the per-version rules.
var compatCRDRules = []compatCRDRule{
	{"scope", compatCheckScope},
	{"names", compatCheckNames},
	{"short-names", compatCheckShortNames},
	{"categories", compatCheckCategories},
	{"versions", compatCheckVersions},
	{"storage-version", compatCheckStorageVersion},
	{"stored-versions", compatCheckStoredVersions},
	{"conversion", compatCheckConversion},
	{"preserve-unknown-fields", compatCheckCRDPreserveUnknownFields},
	{"unknown", compatCheckCRDResidue},
}

// compatVersionRule is one check of a version present in both CRDs.
type compatVersionRule struct {
	name  string
	check func(c *compatCollector, oldV, newV *apiextensionsv1.CustomResourceDefinitionVersion)
}

// compatVersionRules run for every version present in both CRDs.
var compatVersionRules = []compatVersionRule{
	{"served", compatCheckServed},
	{"deprecation", compatCheckDeprecation},
	{"status-subresource", compatCheckStatusSubresource},
	{"scale-subresource", compatCheckScaleSubresource},
	{"printer-columns", compatCheckPrinterColumns},
	{"selectable-fields", compatCheckSelectableFields},
	{"schema", compatCheckVersionSchema},
	{"unknown", compatCheckVersionResidue},
}

func compareCRDs(c *compatCollector, oldCRD, newCRD *apiextensionsv1.CustomResourceDefinition) {
	for _, r := range compatCRDRules {
		r.check(c, oldCRD, newCRD)
	}
	newByName := compatVersionsByName(newCRD)
	for i := range oldCRD.Spec.Versions {
		oldV := &oldCRD.Spec.Versions[i]
		newV, ok := newByName[oldV.Name]
		if !ok {
			continue
		}
		for _, r := range compatVersionRules {
			r.check(c, oldV, newV)
		}
	}
}

func compatVersionsByName(crd *apiextensionsv1.CustomResourceDefinition) map[string]*apiextensionsv1.CustomResourceDefinitionVersion {
	m := make(map[string]*apiextensionsv1.CustomResourceDefinitionVersion, len(crd.Spec.Versions))
	for i := range crd.Spec.Versions {
		m[crd.Spec.Versions[i].Name] = &crd.Spec.Versions[i]
	}
	return m
}

func compatCheckScope(c *compatCollector, o, n *apiextensionsv1.CustomResourceDefinition) {
	if o.Spec.Scope != n.Spec.Scope {
		c.add(compatCRDFinding(RuleScopeChanged, string(o.Spec.Scope), string(n.Spec.Scope),
			"scope changed from "+string(o.Spec.Scope)+" to "+string(n.Spec.Scope)+": existing objects and every client's URLs no longer fit"))
	}
}

func compatCheckNames(c *compatCollector, o, n *apiextensionsv1.CustomResourceDefinition) {
	pairs := []struct {
		id, field, old, new string
	}{
		{RuleGroupChanged, "group", o.Spec.Group, n.Spec.Group},
		{RuleKindChanged, "kind", o.Spec.Names.Kind, n.Spec.Names.Kind},
		{RulePluralChanged, "plural", o.Spec.Names.Plural, n.Spec.Names.Plural},
		{RuleSingularChanged, "singular", compatSingular(o), compatSingular(n)},
		{RuleListKindChanged, "listKind", compatListKind(o), compatListKind(n)},
	}
	for _, p := range pairs {
		if p.old != p.new {
			c.add(compatCRDFinding(p.id, p.old, p.new,
				p.field+" changed from "+compatQuote(p.old)+" to "+compatQuote(p.new)+": clients addressing the old name fail"))
		}
	}
}

// compatSingular and compatListKind apply the API server's defaults, so that
// spelling out the default is no change.
func compatSingular(crd *apiextensionsv1.CustomResourceDefinition) string {
	if crd.Spec.Names.Singular != "" {
		return crd.Spec.Names.Singular
	}
	return compatLower(crd.Spec.Names.Kind)
}

func compatListKind(crd *apiextensionsv1.CustomResourceDefinition) string {
	if crd.Spec.Names.ListKind != "" {
		return crd.Spec.Names.ListKind
	}
	if crd.Spec.Names.Kind == "" {
		return ""
	}
	return crd.Spec.Names.Kind + "List"
}

func compatCheckShortNames(c *compatCollector, o, n *apiextensionsv1.CustomResourceDefinition) {
	removed, added := compatSetDiff(o.Spec.Names.ShortNames, n.Spec.Names.ShortNames)
	if len(removed) > 0 {
		c.add(compatCRDFinding(RuleShortNameRemoved, compatJoin(removed), "",
			"short name "+compatJoin(removed)+" removed: kubectl commands and scripts using it fail"))
	}
	if len(added) > 0 {
		c.add(compatCRDFinding(RuleShortNameAdded, "", compatJoin(added), "short name "+compatJoin(added)+" added"))
	}
}

func compatCheckCategories(c *compatCollector, o, n *apiextensionsv1.CustomResourceDefinition) {
	removed, added := compatSetDiff(o.Spec.Names.Categories, n.Spec.Names.Categories)
	if len(removed) > 0 {
		c.add(compatCRDFinding(RuleCategoryRemoved, compatJoin(removed), "",
			"category "+compatJoin(removed)+" removed: `kubectl get "+removed[0]+"` no longer lists this resource"))
	}
	if len(added) > 0 {
		c.add(compatCRDFinding(RuleCategoryAdded, "", compatJoin(added), "category "+compatJoin(added)+" added"))
	}
}

func compatCheckVersions(c *compatCollector, o, n *apiextensionsv1.CustomResourceDefinition) {
	oldByName, newByName := compatVersionsByName(o), compatVersionsByName(n)
	for name := range oldByName {
		if _, ok := newByName[name]; !ok {
			c.add(compatVersionFinding(RuleVersionRemoved, name, name, "",
				"version "+name+" removed: clients using it fail"))
		}
	}
	for name := range newByName {
		if _, ok := oldByName[name]; !ok {
			c.add(compatVersionFinding(RuleVersionAdded, name, "", name, "version "+name+" added"))
		}
	}
}

func compatStorageVersion(crd *apiextensionsv1.CustomResourceDefinition) string {
	for _, v := range crd.Spec.Versions {
		if v.Storage {
			return v.Name
		}
	}
	return ""
}

func compatCheckStorageVersion(c *compatCollector, o, n *apiextensionsv1.CustomResourceDefinition) {
	os, ns := compatStorageVersion(o), compatStorageVersion(n)
	if os != ns {
		c.add(compatCRDFinding(RuleStorageVersionChanged, os, ns,
			"storage version moved from "+compatQuote(os)+" to "+compatQuote(ns)+": objects are stored in another version from now on and need a storage migration"))
	}
}

func compatCheckStoredVersions(c *compatCollector, o, n *apiextensionsv1.CustomResourceDefinition) {
	newByName := compatVersionsByName(n)
	for _, sv := range compatSortedUnique(o.Status.StoredVersions) {
		if _, ok := newByName[sv]; !ok {
			c.add(compatVersionFinding(RuleStoredVersionRemoved, sv, sv, "",
				"version "+sv+" is in status.storedVersions but no longer defined: objects stored in it can no longer be read"))
		}
	}
}

func compatConversionStrategy(crd *apiextensionsv1.CustomResourceDefinition) string {
	if crd.Spec.Conversion == nil || crd.Spec.Conversion.Strategy == "" {
		return string(apiextensionsv1.NoneConverter)
	}
	return string(crd.Spec.Conversion.Strategy)
}

func compatCheckConversion(c *compatCollector, o, n *apiextensionsv1.CustomResourceDefinition) {
	os, ns := compatConversionStrategy(o), compatConversionStrategy(n)
	if os != ns {
		c.add(compatCRDFinding(RuleConversionStrategyChanged, os, ns,
			"conversion strategy changed from "+os+" to "+ns+": objects read in another version than stored come out differently"))
		return
	}
	var ow, nw *apiextensionsv1.WebhookConversion
	if o.Spec.Conversion != nil {
		ow = o.Spec.Conversion.Webhook
	}
	if n.Spec.Conversion != nil {
		nw = n.Spec.Conversion.Webhook
	}
	if oj, nj := compatMarshal(ow), compatMarshal(nw); oj != nj {
		c.add(compatCRDFinding(RuleConversionWebhookChanged, oj, nj, "conversion webhook settings changed"))
	}
}

func compatCheckCRDPreserveUnknownFields(c *compatCollector, o, n *apiextensionsv1.CustomResourceDefinition) {
	if o.Spec.PreserveUnknownFields != n.Spec.PreserveUnknownFields {
		c.add(compatCRDFinding(RulePreserveUnknownFieldsChanged,
			compatBool(o.Spec.PreserveUnknownFields), compatBool(n.Spec.PreserveUnknownFields),
			"spec.preserveUnknownFields changed: unknown fields are pruned, or kept, differently from now on"))
	}
}

// compatCheckCRDResidue fails closed on CRD spec fields no rule reads.
func compatCheckCRDResidue(c *compatCollector, o, n *apiextensionsv1.CustomResourceDefinition) {
	blank := func(crd *apiextensionsv1.CustomResourceDefinition) string {
		s := crd.Spec
		s.Group, s.Scope, s.Versions, s.Conversion, s.PreserveUnknownFields = "", "", nil, nil, false
		s.Names.Plural, s.Names.Singular, s.Names.Kind, s.Names.ListKind = "", "", "", ""
		s.Names.ShortNames, s.Names.Categories = nil, nil
		return compatMarshal(s)
	}
	if oj, nj := blank(o), blank(n); oj != nj {
		c.add(compatCRDFinding(RuleUnknownChange, oj, nj, "the CRD spec changed in a way no rule understands; treated as breaking"))
	}
}

func compatCheckServed(c *compatCollector, o, n *apiextensionsv1.CustomResourceDefinitionVersion) {
	switch {
	case o.Served && !n.Served:
		c.add(compatVersionFinding(RuleVersionUnserved, n.Name, "served", "not served",
			"version "+n.Name+" is no longer served: clients using it fail"))
	case !o.Served && n.Served:
		c.add(compatVersionFinding(RuleVersionServed, n.Name, "not served", "served", "version "+n.Name+" is served again"))
	}
}

func compatCheckDeprecation(c *compatCollector, o, n *apiextensionsv1.CustomResourceDefinitionVersion) {
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
		c.add(compatVersionFinding(RuleVersionDeprecationChanged, n.Name, od, nd,
			"version "+n.Name+" deprecation changed; clients see another warning"))
	}
}

func compatHasStatus(v *apiextensionsv1.CustomResourceDefinitionVersion) bool {
	return v.Subresources != nil && v.Subresources.Status != nil
}

func compatCheckStatusSubresource(c *compatCollector, o, n *apiextensionsv1.CustomResourceDefinitionVersion) {
	switch os, ns := compatHasStatus(o), compatHasStatus(n); {
	case os && !ns:
		c.add(compatVersionFinding(RuleStatusSubresourceRemoved, n.Name, "enabled", "",
			"status subresource removed: requests to /status fail and status is written with the main resource"))
	case !os && ns:
		c.add(compatVersionFinding(RuleStatusSubresourceAdded, n.Name, "", "enabled",
			"status subresource added: status written through the main resource is now ignored, writers must use /status"))
	}
}

func compatScale(v *apiextensionsv1.CustomResourceDefinitionVersion) *apiextensionsv1.CustomResourceSubresourceScale {
	if v.Subresources == nil {
		return nil
	}
	return v.Subresources.Scale
}

func compatCheckScaleSubresource(c *compatCollector, o, n *apiextensionsv1.CustomResourceDefinitionVersion) {
	os, ns := compatScale(o), compatScale(n)
	switch {
	case os == nil && ns == nil:
	case os == nil:
		c.add(compatVersionFinding(RuleScaleSubresourceAdded, n.Name, "", compatMarshal(ns), "scale subresource added"))
	case ns == nil:
		c.add(compatVersionFinding(RuleScaleSubresourceRemoved, n.Name, compatMarshal(os), "",
			"scale subresource removed: autoscalers and kubectl scale fail"))
	default:
		if oj, nj := compatMarshal(os), compatMarshal(ns); oj != nj {
			c.add(compatVersionFinding(RuleScaleSubresourceChanged, n.Name, oj, nj,
				"scale subresource paths changed: autoscalers read and write other fields"))
		}
	}
}

func compatCheckPrinterColumns(c *compatCollector, o, n *apiextensionsv1.CustomResourceDefinitionVersion) {
	if oj, nj := compatMarshal(o.AdditionalPrinterColumns), compatMarshal(n.AdditionalPrinterColumns); oj != nj {
		c.add(compatVersionFinding(RulePrinterColumnsChanged, n.Name, compatColumnNames(o), compatColumnNames(n),
			"printer columns changed; only kubectl get output differs"))
	}
}

func compatColumnNames(v *apiextensionsv1.CustomResourceDefinitionVersion) string {
	names := make([]string, 0, len(v.AdditionalPrinterColumns))
	for _, col := range v.AdditionalPrinterColumns {
		names = append(names, col.Name)
	}
	return compatJoin(names)
}

func compatCheckSelectableFields(c *compatCollector, o, n *apiextensionsv1.CustomResourceDefinitionVersion) {
	paths := func(v *apiextensionsv1.CustomResourceDefinitionVersion) []string {
		out := make([]string, 0, len(v.SelectableFields))
		for _, f := range v.SelectableFields {
			out = append(out, f.JSONPath)
		}
		return out
	}
	removed, added := compatSetDiff(paths(o), paths(n))
	for _, p := range removed {
		c.add(compatVersionFinding(RuleSelectableFieldRemoved, n.Name, p, "",
			"selectable field "+p+" removed: field selectors on it fail"))
	}
	for _, p := range added {
		c.add(compatVersionFinding(RuleSelectableFieldAdded, n.Name, "", p, "selectable field "+p+" added"))
	}
}

func compatVersionSchema(v *apiextensionsv1.CustomResourceDefinitionVersion) *apiextensionsv1.JSONSchemaProps {
	if v.Schema == nil {
		return nil
	}
	return v.Schema.OpenAPIV3Schema
}

func compatCheckVersionSchema(c *compatCollector, o, n *apiextensionsv1.CustomResourceDefinitionVersion) {
	compareRootSchemas(c, n.Name, compatVersionSchema(o), compatVersionSchema(n))
}

// compatCheckVersionResidue fails closed on version fields no rule reads.
func compatCheckVersionResidue(c *compatCollector, o, n *apiextensionsv1.CustomResourceDefinitionVersion) {
	blank := func(v *apiextensionsv1.CustomResourceDefinitionVersion) string {
		r := *v
		r.Name, r.Served, r.Storage, r.Deprecated, r.DeprecationWarning = "", false, false, false, nil
		r.Schema, r.AdditionalPrinterColumns, r.SelectableFields = nil, nil, nil
		if r.Subresources != nil {
			sub := *r.Subresources
			sub.Status, sub.Scale = nil, nil
			r.Subresources = &sub
			if compatMarshal(sub) == "{}" {
				r.Subresources = nil // an empty stanza is no stanza
			}
		}
		return compatMarshal(r)
	}
	if oj, nj := blank(o), blank(n); oj != nj {
		c.add(compatVersionFinding(RuleUnknownChange, n.Name, oj, nj,
			"version "+n.Name+" changed in a way no rule understands; treated as breaking"))
	}
}

// compatSetDiff returns the values only in old and only in new, sorted.
func compatSetDiff(old, new []string) (removed, added []string) {
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

func compatSortedUnique(in []string) []string {
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

// compatMarshal renders v as JSON for comparison and display; encoding/json
// sorts map keys, so equal values give equal strings. Values that cannot be
// encoded yield a marker string, which differs from any JSON.
func compatMarshal(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return "<unencodable: " + err.Error() + ">"
	}
	return string(b)
}

func compatQuote(s string) string {
	if s == "" {
		return `""`
	}
	return s
}

func compatBool(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

func compatLower(s string) string {
	b := []byte(s)
	for i, ch := range b {
		if ch >= 'A' && ch <= 'Z' {
			b[i] = ch + 'a' - 'A'
		}
	}
	return string(b)
}
