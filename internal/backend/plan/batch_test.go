package plan_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bindsync/bindsync/internal/backend/plan"
	"github.com/bindsync/bindsync/internal/staterepo"
)

// Each bind commit is a render of the whole state held until it is
// committed, so many new requests at once (a first start on a populated
// control plane) are one commit, not one full tree per request.
func TestManyNewRequestsAreOneBindCommit(t *testing.T) {
	for _, tc := range []struct {
		name     string
		requests int
		subjects func(names []string) []string
	}{
		{name: "up to MaxBindCommits new requests: one bind commit each", requests: plan.MaxBindCommits,
			subjects: func(names []string) []string {
				var out []string
				for _, n := range names {
					out = append(out, "bind: "+n+" <- postgresql")
				}
				return out
			}},
		{name: "more: one commit binding them all", requests: plan.MaxBindCommits + 5,
			subjects: func([]string) []string {
				return []string{fmt.Sprintf("bind: %d requests in %d clusters", plan.MaxBindCommits+5, plan.MaxBindCommits+5)}
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, "")
			var names []string
			for i := range tc.requests {
				names = append(names, fmt.Sprintf("c%02d", i))
			}
			w.clusters = clusters(names...)
			main := w.settled(t, nil)
			for _, n := range names {
				w.requests = append(w.requests, request(n, "pg", "postgresql"))
			}

			p := plan.Make(w.input(main))

			require.Empty(t, p.Errors())
			assert.Equal(t, tc.subjects(names), subjects(p))
			last := p.Steps[len(p.Steps)-1].Message
			var uids []string
			for _, q := range w.requests {
				uids = append(uids, string(q.UID))
				d := decision(t, p, q.Namespace, q.Name)
				assert.Equal(t, plan.Approved, d.Approval, "%s approved", q.Namespace)
				assert.True(t, d.Rendered, "%s rendered on main", q.Namespace)
			}
			if len(p.Steps) == 1 {
				assert.Equal(t, uids, last.Values(staterepo.TrailerRequestUID), "every request's UID is a trailer: a revert of the commit is found for each")
				assert.Equal(t, []string{staterepo.CauseBind}, last.Values(staterepo.TrailerCause))
				assert.Contains(t, last.Body, names[0]+" <- postgresql")
			}
			assert.Empty(t, plan.Make(w.input(p.Main)).Steps, "a second plan commits nothing")
		})
	}
}

// BenchmarkPlanNothingNew1000 plans a reconcile with nothing new at 1000
// clusters with one request each: what every poll interval costs.
func BenchmarkPlanNothingNew1000(b *testing.B) {
	w := newWorld(&testing.T{}, "")
	w.clusters = nil
	for i := range 1000 {
		n := fmt.Sprintf("c%04d", i)
		w.clusters = append(w.clusters, clusters(n)...)
		w.requests = append(w.requests, request(n, "pg", "postgresql"))
	}
	main := plan.Make(w.input(nil)).Main
	b.ResetTimer()
	for b.Loop() {
		if p := plan.Make(w.input(main)); len(p.Steps) != 0 {
			b.Fatalf("nothing new planned %d steps", len(p.Steps))
		}
	}
}
