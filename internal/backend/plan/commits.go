package plan

import (
	"fmt"
	"strings"

	"github.com/bindsync/bindsync/api/v1alpha1"
	"github.com/bindsync/bindsync/internal/compat"
	"github.com/bindsync/bindsync/internal/render"
	"github.com/bindsync/bindsync/internal/staterepo"
)

// maxFindings caps the findings written into a commit body.
const maxFindings = 20

// revokeMessage describes the first step when it records revocations: the
// requests' bind commits were reverted on main. Each revoked request keeps
// its Bindsync-Request and Bindsync-Request-UID trailers, so the history
// search for its UID finds this commit first: the revert is recorded, and
// deleting the file lifts it.
func revokeMessage(revoked []int, objs []*v1alpha1.APIServiceExportRequest) staterepo.Message {
	first := objs[revoked[0]]
	m := staterepo.Message{Subject: fmt.Sprintf("revoke: %s <- %s", clusterOf(first.Namespace), first.Spec.TemplateRef.Name)}
	if len(revoked) > 1 {
		m.Subject += fmt.Sprintf(" (and %d more)", len(revoked)-1)
	}
	m.Body = "A bind commit was reverted on main. Each file under clusters/<cluster>/revoked/ rejects every\n" +
		"request of that cluster for that template until a commit on main deletes it."
	for _, i := range revoked {
		q := objs[i]
		m.Trailers = append(m.Trailers, staterepo.Trailer{Key: staterepo.TrailerCluster, Value: clusterOf(q.Namespace)}, staterepo.Trailer{Key: staterepo.TrailerTemplate, Value: q.Spec.TemplateRef.Name},
			staterepo.Trailer{Key: staterepo.TrailerRequest, Value: q.Namespace + "/" + q.Name}, staterepo.Trailer{Key: staterepo.TrailerRequestUID, Value: string(q.UID)})
	}
	m.Trailers = append(m.Trailers, staterepo.Trailer{Key: staterepo.TrailerCause, Value: staterepo.CauseRevoke})
	return m
}

func bindMessage(q v1alpha1.APIServiceExportRequest, res render.RequestResult) staterepo.Message {
	c := clusterOf(q.Namespace)
	m := staterepo.Message{Subject: fmt.Sprintf("bind: %s <- %s", c, q.Spec.TemplateRef.Name)}
	m.Trailers = []staterepo.Trailer{
		{Key: staterepo.TrailerCluster, Value: c},
		{Key: staterepo.TrailerRequest, Value: q.Namespace + "/" + q.Name},
		{Key: staterepo.TrailerRequestUID, Value: string(q.UID)},
		{Key: staterepo.TrailerTemplate, Value: q.Spec.TemplateRef.Name},
	}
	for _, e := range res.Exports {
		m.Trailers = append(m.Trailers, staterepo.Trailer{Key: staterepo.TrailerSchemaHash, Value: e.Name + "=" + e.SchemaHash})
	}
	m.Trailers = append(m.Trailers, staterepo.Trailer{Key: staterepo.TrailerCause, Value: staterepo.CauseBind})
	return m
}

// batchBindMessage describes one commit binding many requests: the subject
// counts them, the body lists them, and each keeps its Bindsync-Request and
// Bindsync-Request-UID trailers (a revert of the commit revokes them all).
func (p *planner) batchBindMessage(binds []int, after *treeIndex) staterepo.Message {
	clusters := map[string]bool{}
	var body strings.Builder
	m := staterepo.Message{}
	for _, i := range binds {
		q, d := p.request(i), p.requests[i]
		if !after.holds(d.Cluster, d.Template) {
			continue
		}
		clusters[d.Cluster] = true
		fmt.Fprintf(&body, "%s <- %s\n", d.Cluster, q.Spec.TemplateRef.Name)
		m.Trailers = append(m.Trailers, staterepo.Trailer{Key: staterepo.TrailerRequest, Value: q.Namespace + "/" + q.Name}, staterepo.Trailer{Key: staterepo.TrailerRequestUID, Value: string(q.UID)})
	}
	m.Subject = fmt.Sprintf("bind: %d requests in %d clusters", len(m.Trailers)/2, len(clusters))
	m.Body = strings.TrimSuffix(body.String(), "\n")
	m.Trailers = append(m.Trailers, staterepo.Trailer{Key: staterepo.TrailerCause, Value: staterepo.CauseBind})
	return m
}

// unbindMessage describes the first step when it removes bindings main
// held that the control plane no longer asks for.
func unbindMessage(gone [][2]string) staterepo.Message {
	m := staterepo.Message{Subject: fmt.Sprintf("unbind: %s <- %s", gone[0][0], gone[0][1])}
	if len(gone) > 1 {
		m.Subject += fmt.Sprintf(" (and %d more)", len(gone)-1)
	}
	for _, g := range gone {
		m.Trailers = append(m.Trailers, staterepo.Trailer{Key: staterepo.TrailerCluster, Value: g[0]}, staterepo.Trailer{Key: staterepo.TrailerTemplate, Value: g[1]})
	}
	m.Trailers = append(m.Trailers, staterepo.Trailer{Key: staterepo.TrailerCause, Value: staterepo.CauseUnbind})
	return m
}

// updateMessage describes the first step when it unbinds nothing: any
// other re-render of the changed clusters.
func updateMessage(changed []string) staterepo.Message {
	m := staterepo.Message{Subject: "update: " + summarize(changed)}
	for _, c := range changed {
		m.Trailers = append(m.Trailers, staterepo.Trailer{Key: staterepo.TrailerCluster, Value: c})
	}
	m.Trailers = append(m.Trailers, staterepo.Trailer{Key: staterepo.TrailerCause, Value: staterepo.CauseUpdate})
	return m
}

func (p *planner) schemaMessage(crd string, after *treeIndex) staterepo.Message {
	d, tpls := p.schemaOf(crd)
	verdict := d.Report.Verdict()
	m := staterepo.Message{Subject: fmt.Sprintf("schema: %s %s -> %s (%s)", crd, short(d.MainHash), short(d.LiveHash), verdict)}
	m.Body = fmt.Sprintf("Re-renders the %s snapshot for %d clusters.", crd, countBound(after, crd))
	if f := findingsText(d.Report); f != "" {
		m.Body += "\n\n" + f
	}
	for _, t := range tpls {
		m.Trailers = append(m.Trailers, staterepo.Trailer{Key: staterepo.TrailerTemplate, Value: t})
	}
	m.Trailers = append(m.Trailers, staterepo.Trailer{Key: staterepo.TrailerSchemaHash, Value: crd + "=" + d.LiveHash},
		staterepo.Trailer{Key: staterepo.TrailerCompat, Value: verdict}, staterepo.Trailer{Key: staterepo.TrailerCause, Value: staterepo.CauseSchema})
	return m
}

func (p *planner) heldMessage(crd string, after *treeIndex) staterepo.Message {
	d, tpls := p.schemaOf(crd)
	m := staterepo.Message{Subject: fmt.Sprintf("schema: %s %s -> %s (breaking)", crd, short(d.MainHash), short(d.LiveHash))}
	m.Body = fmt.Sprintf("Held by schemaUpdatePolicy %s of template %s: this change breaks existing users.\n"+
		"Merging this branch into main rolls it out to %d clusters.\n\n%s",
		d.Policy, strings.Join(tpls, ", "), countBound(after, crd), findingsText(d.Report))
	for _, t := range tpls {
		m.Trailers = append(m.Trailers, staterepo.Trailer{Key: staterepo.TrailerTemplate, Value: t})
	}
	m.Trailers = append(m.Trailers, staterepo.Trailer{Key: staterepo.TrailerSchemaHash, Value: crd + "=" + d.LiveHash},
		staterepo.Trailer{Key: staterepo.TrailerCompat, Value: d.Report.Verdict()}, staterepo.Trailer{Key: staterepo.TrailerCause, Value: staterepo.CauseSchema})
	return m
}

// schemaOf returns the first decision about crd and the templates binding it.
func (p *planner) schemaOf(crd string) (SchemaDecision, []string) {
	var first *SchemaDecision
	var tpls []string
	for i, d := range p.schemas {
		if d.CRD != crd || d.State == SchemaNew {
			continue
		}
		if first == nil || (first.State != SchemaHeld && d.State == SchemaHeld) {
			first = &p.schemas[i]
		}
		tpls = append(tpls, d.Template)
	}
	if first == nil {
		return SchemaDecision{CRD: crd}, tpls
	}
	return *first, tpls
}

// findingsText lists the breaking findings (rule, version, path, old, new).
func findingsText(r compat.Report) string {
	fs := r.BreakingFindings()
	if len(fs) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("Breaking findings:\n")
	for i, f := range fs {
		if i == maxFindings {
			fmt.Fprintf(&b, "... and %d more\n", len(fs)-maxFindings)
			break
		}
		b.WriteString("- " + FindingLine(f) + "\n")
	}
	return b.String()
}

// FindingLine formats one finding: rule, version and path, old and new.
func FindingLine(f compat.Finding) string {
	where := f.Path
	if f.Version != "" {
		where = f.Version + " " + where
	}
	return fmt.Sprintf("%s at %s: %q -> %q", f.Rule, strings.TrimSpace(where), f.Old, f.New)
}

func countBound(ix *treeIndex, crd string) int {
	n := 0
	for _, es := range ix.clusters {
		for _, e := range es {
			if e.CRD == crd {
				n++
			}
		}
	}
	return n
}

func changedClusters(a, b staterepo.Tree) []string {
	set := map[string]bool{}
	for p, x := range a {
		if y, ok := b[p]; !ok || string(x) != string(y) {
			set[clusterOfPath(p)] = true
		}
	}
	for p := range b {
		if _, ok := a[p]; !ok {
			set[clusterOfPath(p)] = true
		}
	}
	delete(set, "")
	return sortedSet(set)
}

func clusterOfPath(p string) string {
	rest, ok := strings.CutPrefix(p, staterepo.ClustersDir+"/")
	if !ok {
		return ""
	}
	c, _, _ := strings.Cut(rest, "/")
	return c
}

func summarize(clusters []string) string {
	switch {
	case len(clusters) == 0:
		return "repository files"
	case len(clusters) <= 3:
		return strings.Join(clusters, ", ")
	}
	return fmt.Sprintf("%s and %d more clusters", strings.Join(clusters[:3], ", "), len(clusters)-3)
}
