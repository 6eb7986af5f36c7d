package compat

import (
	"sort"
	"strconv"
	"strings"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
)

// Severity says whether a finding may roll out without approval.
type Severity string

const (
	// Breaking means objects, clients or stored data that worked with the old
	// CRD may fail with the new one.
	Breaking Severity = "breaking"
	// NonBreaking means everything that worked with the old CRD keeps working.
	NonBreaking Severity = "non-breaking"
)

// Side says which part of an object a finding concerns, and so who is hurt by
// a breaking change: writers for spec (and metadata and any other top-level
// field a client writes), readers for status, every client for crd.
type Side string

const (
	// SideSpec covers the schema under .spec, the schema root and every other
	// top-level field except .status and .metadata: fields clients write.
	SideSpec Side = "spec"
	// SideStatus covers the schema under .status: fields clients read.
	SideStatus Side = "status"
	// SideMetadata covers the schema under .metadata.
	SideMetadata Side = "metadata"
	// SideCRD marks findings about the CRD as a whole: names, scope,
	// versions, subresources, printer columns.
	SideCRD Side = "crd"
)

// Finding is one difference between two CRDs, judged by one rule.
//
// Path is a JSON path into the version's openAPIV3Schema, written the way a
// user addresses the field in an object: ".spec.parameters.maxConnections".
// Array items and map values (additionalProperties) are both written "[*]",
// as in JSONPath: ".spec.items[*].name", ".spec.labels[*]". A property
// whose name is not a plain identifier is written as a quoted index:
// `.spec.selector["app.kubernetes.io/name"]`. The schema root is ".".
// Whole-CRD findings have an empty Path, and an empty Version unless they
// concern one version.
type Finding struct {
	Version  string   `json:"version,omitempty"`
	Path     string   `json:"path,omitempty"`
	Rule     string   `json:"rule"`
	Side     Side     `json:"side"`
	Severity Severity `json:"severity"`
	Old      string   `json:"old,omitempty"`
	New      string   `json:"new,omitempty"`
	Message  string   `json:"message"`
}

// Report is the result of Compare: every finding, sorted by version, path,
// rule and values, so two runs over the same input give the same report.
type Report struct {
	Findings []Finding `json:"findings"`
}

// Breaking reports whether any finding is breaking.
func (r Report) Breaking() bool {
	for _, f := range r.Findings {
		if f.Severity == Breaking {
			return true
		}
	}
	return false
}

// BreakingFindings returns the breaking findings, in report order.
func (r Report) BreakingFindings() []Finding {
	var out []Finding
	for _, f := range r.Findings {
		if f.Severity == Breaking {
			out = append(out, f)
		}
	}
	return out
}

// BreakingRules returns the IDs of the rules with at least one breaking
// finding, sorted and without duplicates; the backend writes them into the
// Bindsync-Compat commit trailer.
func (r Report) BreakingRules() []string {
	seen := map[string]bool{}
	var out []string
	for _, f := range r.Findings {
		if f.Severity == Breaking && !seen[f.Rule] {
			seen[f.Rule] = true
			out = append(out, f.Rule)
		}
	}
	sort.Strings(out)
	return out
}

// Verdict returns the report in the form of the Bindsync-Compat commit
// trailer: "non-breaking", or "breaking: " and the breaking rule IDs
// joined by ", ".
func (r Report) Verdict() string {
	rules := r.BreakingRules()
	if len(rules) == 0 {
		return string(NonBreaking)
	}
	return string(Breaking) + ": " + strings.Join(rules, ", ")
}

// Compare judges the change from oldCRD to newCRD. A nil oldCRD means the CRD
// is new (rule crd-added, non-breaking); a nil newCRD means it was deleted
// (rule crd-removed, breaking). Compare never fails: input it cannot
// interpret is reported as an unknown-change finding, which is breaking.
func Compare(oldCRD, newCRD *apiextensionsv1.CustomResourceDefinition) Report {
	c := &collector{}
	switch {
	case oldCRD == nil && newCRD == nil:
	case oldCRD == nil:
		c.add(crdFinding(RuleCRDAdded, "", newCRD.Name,
			"CRD "+newCRD.Name+" is new"))
	case newCRD == nil:
		c.add(crdFinding(RuleCRDRemoved, oldCRD.Name, "",
			"CRD "+oldCRD.Name+" is removed: its API and every object of it go away"))
	default:
		c.oldCRD = oldCRD
		compareCRDs(c, oldCRD, newCRD)
	}
	sortFindings(c.findings)
	return Report{Findings: c.findings}
}

// collector gathers findings while the rules run.
type collector struct {
	findings []Finding
	// scratch holds the two blanked copies checkSchemaResidue compares.
	scratch [2]apiextensionsv1.JSONSchemaProps
	// oldCRD is the old CRD when a whole CRD is compared (nil when one
	// version's schemas are); shapes is computed from it when a rule needs to know
	// what any of its versions declared.
	oldCRD *apiextensionsv1.CustomResourceDefinition
	shapes *oldShapes
}

func (c *collector) add(f Finding) { c.findings = append(c.findings, f) }

// crdFinding builds a whole-CRD finding for rule id.
func crdFinding(id, oldValue, newValue, message string) Finding {
	return versionFinding(id, "", oldValue, newValue, message)
}

// versionFinding builds a whole-CRD finding that concerns one version.
func versionFinding(id, version, oldValue, newValue, message string) Finding {
	return Finding{
		Version:  version,
		Rule:     id,
		Side:     SideCRD,
		Severity: severityOf(id),
		Old:      oldValue,
		New:      newValue,
		Message:  message,
	}
}

// sortFindings orders findings: whole-CRD first, then by version, path,
// rule and values.
func sortFindings(fs []Finding) {
	sort.SliceStable(fs, func(i, j int) bool {
		a, b := fs[i], fs[j]
		if (a.Side == SideCRD) != (b.Side == SideCRD) {
			return a.Side == SideCRD
		}
		if a.Version != b.Version {
			return a.Version < b.Version
		}
		if a.Path != b.Path {
			return a.Path < b.Path
		}
		if a.Rule != b.Rule {
			return a.Rule < b.Rule
		}
		if a.Old != b.Old {
			return a.Old < b.Old
		}
		if a.New != b.New {
			return a.New < b.New
		}
		return a.Message < b.Message
	})
}

// childPath appends property name to a path, quoting names that are not
// plain identifiers.
func childPath(parent, name string) string {
	if parent == "." {
		parent = ""
	}
	if plainName(name) {
		return parent + "." + name
	}
	return parent + "[" + strconv.Quote(name) + "]"
}

func plainName(name string) bool {
	if name == "" {
		return false
	}
	for i, r := range name {
		switch {
		case r == '_' || r == '$' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z'):
		case i > 0 && (r == '-' || (r >= '0' && r <= '9')):
		default:
			return false
		}
	}
	return true
}

// itemsPath is the path of an array's items or an object's map values.
func itemsPath(parent string) string {
	if parent == "." {
		parent = ""
	}
	return parent + "[*]"
}

// sideOf names the side of a top-level property.
func sideOf(topLevel string) Side {
	switch topLevel {
	case "status":
		return SideStatus
	case "metadata":
		return SideMetadata
	default:
		return SideSpec
	}
}

// whoBreaks is appended to the message of a breaking schema finding.
func whoBreaks(side Side) string {
	switch side {
	case SideStatus:
		return " (breaks readers of status)"
	case SideCRD:
		return ""
	default:
		return " (breaks writers)"
	}
}

// join joins values for the Old and New columns.
func join(values []string) string { return strings.Join(values, ", ") }
