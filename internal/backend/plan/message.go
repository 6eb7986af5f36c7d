package plan

import "strings"

// Trailer keys of bindsync's commits (git interpret-trailers format).
const (
	TrailerCluster    = "Bindsync-Cluster"
	TrailerRequest    = "Bindsync-Request"
	TrailerRequestUID = "Bindsync-Request-UID"
	TrailerTemplate   = "Bindsync-Template"
	TrailerSchemaHash = "Bindsync-Schema-Hash"
	TrailerCompat     = "Bindsync-Compat"
	TrailerCause      = "Bindsync-Cause"
	// TrailerBase names the main commit an approval branch was built on;
	// the backend rebuilds a branch whose base is not main's head.
	TrailerBase = "Bindsync-Base"
	// TrailerBranch names the branch a commit was written for: the backend
	// treats a bindsync/ branch as its own (rebuilds it, deletes it when
	// nothing waits on it) only when its head carries this trailer with the
	// branch's own name. A branch someone else created or added a commit
	// to is left alone.
	TrailerBranch = "Bindsync-Branch"
)

// Causes, the values of the Bindsync-Cause trailer.
const (
	CauseBind   = "bind"
	CauseUnbind = "unbind"
	CauseSchema = "schema"
	CauseUpdate = "update"
	// CauseRevoke records a revocation (render.RevokedPath) after a bind
	// commit was reverted on main. The commit carries the Bindsync-Request
	// and Bindsync-Request-UID trailers of each request it revokes, so a
	// history search for a request's UID finds it before the bind commit.
	CauseRevoke = "revoke"
)

// Message is a commit message: a subject a human can scan, an optional body
// and trailers git can parse.
type Message struct {
	Subject  string
	Body     string
	Trailers []Trailer
}

// Trailer is one "Key: value" line at the end of a commit message.
type Trailer struct{ Key, Value string }

// String renders the message as git writes it.
func (m Message) String() string {
	var b strings.Builder
	b.WriteString(m.Subject)
	b.WriteString("\n")
	if m.Body != "" {
		b.WriteString("\n")
		b.WriteString(strings.TrimRight(m.Body, "\n"))
		b.WriteString("\n")
	}
	if len(m.Trailers) > 0 {
		b.WriteString("\n")
		for _, t := range m.Trailers {
			b.WriteString(t.Key + ": " + t.Value + "\n")
		}
	}
	return b.String()
}

// Values returns the values of every trailer with key, in order.
func (m Message) Values(key string) []string {
	var out []string
	for _, t := range m.Trailers {
		if t.Key == key {
			out = append(out, t.Value)
		}
	}
	return out
}

func short(hash string) string {
	if len(hash) > 8 {
		return hash[:8]
	}
	if hash == "" {
		return "none"
	}
	return hash
}
