package log

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bindsync/bindsync/internal/git"
	"github.com/bindsync/bindsync/internal/staterepo"

	_ "github.com/bindsync/bindsync/internal/testutil/golden" // accepts -update like every test package
)

var when = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func commit(author string, parents int, msg string) git.CommitInfo {
	c := git.CommitInfo{Hash: plumbing.NewHash("0123456789012345678901234567890123456789"), Author: author, When: when, Message: staterepo.ParseMessage(msg)}
	for range parents {
		c.Parents = append(c.Parents, plumbing.ZeroHash)
	}
	return c
}

const bindMsg = `bind: team-a <- pg

Bindsync-Cluster: team-a
Bindsync-Request: bindsync-team-a/pg
Bindsync-Request-UID: 1234
Bindsync-Template: pg
Bindsync-Schema-Hash: pg.example.com=abcdef0123456789
Bindsync-Cause: bind
`

func TestEntryOfReadsTheTrailers(t *testing.T) {
	for name, tc := range map[string]struct {
		c          git.CommitInfo
		approval   string
		approvedBy string
	}{
		"the backend's bind commit":  {c: commit("bindsync <bindsync@localhost>", 1, bindMsg), approval: ApprovalAutomatic},
		"merged by bindsync approve": {c: commit("Ada <ada@example.com>", 2, strings.Replace(bindMsg, "Bindsync-Cause: bind", "Bindsync-Cause: bind\nBindsync-Approved-By: Ada <ada@example.com>", 1)), approval: ApprovalMerged, approvedBy: "Ada <ada@example.com>"},
		"merged by a forge":          {c: commit("Forge <forge@example.com>", 2, bindMsg), approval: ApprovalMerged, approvedBy: "Forge <forge@example.com>"},
		"a rebase of the branch":     {c: commit("Bob <bob@example.com>", 1, strings.Replace(bindMsg, "Bindsync-Cause: bind", "Bindsync-Cause: bind\nBindsync-Base: 00ff", 1)), approval: ApprovalByHand, approvedBy: "Bob <bob@example.com>"},
	} {
		t.Run(name, func(t *testing.T) {
			e := EntryOf(tc.c, tc.c.Message)
			assert.Equal(t, "bind", e.Cause)
			assert.Equal(t, []string{"team-a"}, e.Clusters)
			assert.Equal(t, []string{"pg"}, e.Templates)
			assert.Equal(t, "bindsync-team-a/pg", e.Request)
			assert.Equal(t, "1234", e.RequestUID)
			assert.Equal(t, []string{"pg.example.com=abcdef0123456789"}, e.Schemas)
			assert.Equal(t, tc.approval, e.Approval)
			assert.Equal(t, tc.approvedBy, e.ApprovedBy)
			assert.Equal(t, when, e.Time)
		})
	}
	t.Run("a hand edit without trailers", func(t *testing.T) {
		c := commit("Eve <eve@example.com>", 1, "fix README")
		e := EntryOf(c, c.Message)
		assert.Equal(t, ApprovalByHand, e.Approval)
		assert.Empty(t, e.Clusters)
	})
	t.Run("a schema roll-out over two clusters", func(t *testing.T) {
		c := commit("bindsync <bindsync@localhost>", 1, "schema: pg 1 -> 2 (non-breaking)\n\nBindsync-Cluster: a\nBindsync-Cluster: b\nBindsync-Template: pg\nBindsync-Schema-Hash: pg=2\nBindsync-Compat: non-breaking\nBindsync-Cause: schema\n")
		e := EntryOf(c, c.Message)
		assert.Equal(t, []string{"a", "b"}, e.Clusters)
		assert.Equal(t, "non-breaking", e.Compat)
		assert.True(t, Matches(e, "b", "pg"))
		assert.False(t, Matches(e, "c", ""))
		assert.False(t, Matches(e, "", "other"))
	})
}

func TestPrintTable(t *testing.T) {
	c := commit("bindsync <bindsync@localhost>", 1, bindMsg)
	var b bytes.Buffer
	require.NoError(t, PrintTable(&b, []Entry{EntryOf(c, c.Message)}))
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	require.Len(t, lines, 2)
	assert.Equal(t, []string{"2026-01-02T03:04:05Z", "01234567", "bind", "team-a", "pg", "pg.example.com=abcdef01", "automatic", "bind:", "team-a", "<-", "pg"}, strings.Fields(lines[1]))
}
