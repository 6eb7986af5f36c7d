package check

import (
	"encoding/json"
	"fmt"
	"io"
	"reflect"
	"sort"
	"strings"
	"text/tabwriter"
	"unicode/utf8"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"

	"github.com/bindsync/bindsync/internal/compat"
	"github.com/bindsync/bindsync/internal/schema"
	"github.com/bindsync/bindsync/internal/staterepo"
)

// Change kinds of a result.
const (
	changeModified = "modified"
	changeAdded    = "added"
	changeRemoved  = "removed"
)

// report is what check prints; its JSON field names are stable.
type report struct {
	// Compatible is false when any finding is breaking.
	Compatible bool `json:"compatible"`
	// Breaking counts the breaking findings over all results.
	Breaking int `json:"breaking"`
	// From and To are the commits compared (repository form only).
	From string `json:"from,omitempty"`
	To   string `json:"to,omitempty"`
	// Results holds one entry per CRD change, sorted by CRD name.
	Results []result `json:"results"`
}

// result is one compared CRD pair.
type result struct {
	CRD    string `json:"crd"`
	Change string `json:"change"`
	// Old and New name the compared files (file form).
	Old string `json:"old,omitempty"`
	New string `json:"new,omitempty"`
	// Paths lists every repository path with this exact change, PathCount
	// their number (repository form).
	Paths         []string `json:"paths,omitempty"`
	PathCount     int      `json:"pathCount,omitempty"`
	Compatible    bool     `json:"compatible"`
	BreakingRules []string `json:"breakingRules,omitempty"`
	// SameSchema is set when the two CRD specs differ only in order that
	// carries no meaning (enum values, required, CEL rules, versions) or in
	// values the API server fills in by default: no finding, and the same
	// schema hash, SchemaHash.
	SameSchema bool             `json:"sameSchema,omitempty"`
	SchemaHash string           `json:"schemaHash,omitempty"`
	Findings   []compat.Finding `json:"findings"`
}

// newResult compares a pair; either side may be nil.
func newResult(oldCRD, newCRD *apiextensionsv1.CustomResourceDefinition) result {
	r := compat.Compare(oldCRD, newCRD)
	res := result{Change: changeModified, Compatible: !r.Breaking(), BreakingRules: r.BreakingRules(), Findings: r.Findings}
	switch {
	case oldCRD == nil:
		res.Change, res.CRD = changeAdded, newCRD.Name
	case newCRD == nil:
		res.Change, res.CRD = changeRemoved, oldCRD.Name
	default:
		res.CRD = newCRD.Name
		if oldCRD.Name != newCRD.Name {
			res.CRD = oldCRD.Name + " -> " + newCRD.Name
		}
	}
	if res.Findings == nil {
		res.Findings = []compat.Finding{}
	}
	if len(res.Findings) == 0 && oldCRD != nil && newCRD != nil && !reflect.DeepEqual(oldCRD.Spec, newCRD.Spec) {
		if h, ok := sameSchemaHash(oldCRD, newCRD); ok {
			res.SameSchema, res.SchemaHash = true, h
		}
	}
	return res
}

// sameSchemaHash returns the schema hash of two CRDs when they have the same
// one. The hash is taken over the canonical form, where order that carries
// no meaning is sorted away, while rendered files keep the provider's order.
func sameSchemaHash(a, b *apiextensionsv1.CustomResourceDefinition) (string, bool) {
	hash := func(crd *apiextensionsv1.CustomResourceDefinition) string {
		snap, err := schema.Snapshot(crd)
		if err != nil {
			return ""
		}
		h, err := schema.Hash(snap)
		if err != nil {
			return ""
		}
		return h
	}
	ha := hash(a)
	return ha, ha != "" && ha == hash(b)
}

// finish sorts the results and fills the totals.
func (rep *report) finish() {
	sort.SliceStable(rep.Results, func(i, j int) bool {
		a, b := rep.Results[i], rep.Results[j]
		if a.CRD != b.CRD {
			return a.CRD < b.CRD
		}
		if a.Change != b.Change {
			return a.Change < b.Change
		}
		return firstOf(a.Paths) < firstOf(b.Paths)
	})
	if rep.Results == nil {
		rep.Results = []result{}
	}
	rep.Compatible, rep.Breaking = true, 0
	for _, r := range rep.Results {
		for _, f := range r.Findings {
			if f.Severity == compat.Breaking {
				rep.Breaking++
				rep.Compatible = false
			}
		}
	}
}

func firstOf(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}

func writeJSON(w io.Writer, rep report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(rep)
}

// maxCell caps OLD and NEW cells in the table; -o json has them whole.
const maxCell = 40

// maxPaths caps the paths listed under a CRD in the table.
const maxPaths = 3

func writeTable(w io.Writer, rep report, showAll bool) error {
	var b strings.Builder
	hidden := 0
	if rep.From != "" {
		fmt.Fprintf(&b, "comparing %s..%s\n", staterepo.ShortHash(rep.From, staterepo.ShortDigits), staterepo.ShortHash(rep.To, staterepo.ShortDigits))
	}
	if len(rep.Results) == 0 {
		b.WriteString("no CRD changed\n")
	}
	for _, r := range rep.Results {
		b.WriteString(resultHeader(r) + "\n")
		var rows []compat.Finding
		for _, f := range r.Findings {
			if showAll || f.Severity == compat.Breaking {
				rows = append(rows, f)
			} else {
				hidden++
			}
		}
		if len(rows) > 0 {
			tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "  VERSION\tSIDE\tPATH\tRULE\tSEVERITY\tOLD\tNEW\tMESSAGE")
			for _, f := range rows {
				oldCell, newCell := cellPair(f.Old, f.New, maxCell)
				fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", cell(f.Version, 0), f.Side, cell(f.Path, 0), f.Rule,
					f.Severity, oldCell, newCell, f.Message)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
		}
	}
	b.WriteString(summary(rep, hidden, showAll) + "\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func resultHeader(r result) string {
	h := r.CRD + " (" + r.Change
	switch {
	case r.Old != "" || r.New != "":
		h += ": " + orDash(r.Old) + " -> " + orDash(r.New)
	case len(r.Paths) == 1:
		h += ": " + r.Paths[0]
	case len(r.Paths) > 1:
		shown := r.Paths
		if len(shown) > maxPaths {
			shown = shown[:maxPaths]
		}
		h += fmt.Sprintf(" at %d paths: %s", r.PathCount, strings.Join(shown, ", "))
		if len(r.Paths) > maxPaths {
			h += fmt.Sprintf(", and %d more", len(r.Paths)-maxPaths)
		}
	}
	verdict := "compatible"
	if r.SameSchema {
		verdict = "compatible: same schema (hash " + staterepo.ShortHash(r.SchemaHash, staterepo.ShortDigits) +
			"); the files differ only in order that carries no meaning (enum values, required fields, CEL rules, versions) or in defaults the API server fills in"
	}
	if !r.Compatible {
		verdict = "BREAKING: " + strings.Join(r.BreakingRules, ", ")
	}
	return h + ") " + verdict
}

func summary(rep report, hidden int, showAll bool) string {
	nonBreaking := 0
	for _, r := range rep.Results {
		nonBreaking += len(r.Findings)
	}
	nonBreaking -= rep.Breaking
	if !rep.Compatible {
		return fmt.Sprintf("BREAKING: %d %s in %d of %d CRD changes%s", rep.Breaking, plural(rep.Breaking, "finding", "findings"),
			countBreaking(rep), len(rep.Results), hiddenNote(hidden, showAll))
	}
	if nonBreaking == 0 {
		return "compatible"
	}
	note := ""
	if hidden > 0 && !showAll {
		note = "; --show-all lists them"
	}
	return fmt.Sprintf("compatible (%d non-breaking %s%s)", nonBreaking, plural(nonBreaking, "finding", "findings"), note)
}

func hiddenNote(hidden int, showAll bool) string {
	if hidden == 0 || showAll {
		return ""
	}
	return fmt.Sprintf(", %d non-breaking not listed; --show-all lists them", hidden)
}

func countBreaking(rep report) int {
	n := 0
	for _, r := range rep.Results {
		if !r.Compatible {
			n++
		}
	}
	return n
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func cell(s string, max int) string {
	if s == "" {
		return "-"
	}
	s = strings.ReplaceAll(strings.ReplaceAll(s, "\t", " "), "\n", " ")
	if max > 0 && utf8.RuneCountInString(s) > max {
		r := []rune(s)
		return string(r[:max-1]) + "…"
	}
	return s
}

// cellPair caps the OLD and NEW cells of one row at max runes each. When
// both are long and share a beginning, both are cut around where they first
// differ, with an ellipsis on each cut side, so that two rules differing
// after the first max characters do not print as the same text.
func cellPair(oldValue, newValue string, max int) (string, string) {
	o, n := []rune(flat(oldValue)), []rune(flat(newValue))
	if len(o) <= max && len(n) <= max || len(o) == 0 || len(n) == 0 {
		return cell(oldValue, max), cell(newValue, max)
	}
	d := 0
	for d < len(o) && d < len(n) && o[d] == n[d] {
		d++
	}
	const context = 8 // runes of the common part kept before the difference
	if d < max-1-context {
		return cell(oldValue, max), cell(newValue, max) // the difference shows in the head
	}
	start := d - context
	return window(o, start, max), window(n, start, max)
}

// window returns at most max runes of r from start, with "…" where it cuts.
func window(r []rune, start, max int) string {
	if start >= len(r) {
		start = len(r)
	}
	body := max - 1 // the leading ellipsis
	if len(r)-start > body {
		return "…" + string(r[start:start+body-1]) + "…"
	}
	return "…" + string(r[start:])
}

func flat(s string) string { return strings.ReplaceAll(strings.ReplaceAll(s, "\t", " "), "\n", " ") }

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
