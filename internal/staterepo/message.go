package staterepo

import "strings"

// Trailer keys of bindsync's commits (git interpret-trailers format).
// `bindsync log` and the backend's history searches read them back.
const (
	TrailerCluster    = "Bindsync-Cluster"
	TrailerRequest    = "Bindsync-Request"
	TrailerRequestUID = "Bindsync-Request-UID"
	TrailerTemplate   = "Bindsync-Template"
	TrailerSchemaHash = "Bindsync-Schema-Hash"
	// TrailerCompat is "non-breaking" or "breaking: <rules>".
	TrailerCompat = "Bindsync-Compat"
	TrailerCause  = "Bindsync-Cause"
	// TrailerNamespace names the app namespace of a namespace commit
	// (Bindsync-Cluster names its cluster).
	TrailerNamespace = "Bindsync-Namespace"
	// TrailerBase names the main commit an approval branch was built on;
	// the backend rebuilds a branch whose base is not main's head.
	TrailerBase = "Bindsync-Base"
	// TrailerBranch names the branch a commit was written for: the backend
	// treats a bindsync/ branch as its own (rebuilds it, deletes it when
	// nothing waits on it) only when its head carries this trailer with the
	// branch's own name. A branch someone else created or added a commit
	// to is left alone.
	TrailerBranch = "Bindsync-Branch"
	// TrailerApprovedBy names who approved a merge: "Name <email>".
	TrailerApprovedBy = "Bindsync-Approved-By"
)

// Causes, the values of the Bindsync-Cause trailer.
const (
	CauseBind   = "bind"
	CauseUnbind = "unbind"
	CauseSchema = "schema"
	CauseUpdate = "update"
	// CauseRevoke records a revocation (RevokedPath) after a bind commit
	// was reverted on main. The commit carries the Bindsync-Request and
	// Bindsync-Request-UID trailers of each request it revokes, so a
	// history search for a request's UID finds it before the bind commit.
	CauseRevoke = "revoke"
	// CauseNamespace is the cause of a commit that assigns an app namespace
	// its control-plane namespace, or takes it away. Namespaces are never
	// held for approval: an instance namespace grants the cluster's agent
	// nothing beyond what the APIs it binds already allow, only a place to
	// use them.
	CauseNamespace = "namespace"
)

// Trailer is one "Key: Value" line of a commit message's trailer block.
type Trailer struct{ Key, Value string }

// Message is a commit message: a one-line subject, an optional body and
// trailers, laid out as git interpret-trailers expects them (the trailers
// are the last paragraph), so `git log --format='%(trailers)'` reads them.
type Message struct {
	Subject  string
	Body     string
	Trailers []Trailer
}

// String renders the message. Newlines in the subject, a trailer's key or
// value are replaced by spaces, so a value cannot forge another trailer.
func (m Message) String() string {
	var b strings.Builder
	b.WriteString(oneLine(m.Subject))
	b.WriteString("\n")
	if body := strings.Trim(m.Body, "\n"); body != "" {
		b.WriteString("\n")
		b.WriteString(body)
		b.WriteString("\n")
	}
	if len(m.Trailers) > 0 {
		b.WriteString("\n")
		for _, t := range m.Trailers {
			b.WriteString(strings.ReplaceAll(oneLine(t.Key), " ", "-"))
			b.WriteString(": ")
			b.WriteString(oneLine(t.Value))
			b.WriteString("\n")
		}
	}
	return b.String()
}

// Get returns the value of the first trailer with key (case-insensitive,
// as git compares trailer keys) and whether there is one.
func (m Message) Get(key string) (string, bool) {
	for _, t := range m.Trailers {
		if strings.EqualFold(t.Key, key) {
			return t.Value, true
		}
	}
	return "", false
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

// ParseMessage reads a commit message: the first line is the subject; the
// last paragraph is the trailer block when every line of it is "Key: Value"
// (continuation lines indented); what lies between is the body.
func ParseMessage(s string) Message {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	subject, rest, _ := strings.Cut(s, "\n")
	m := Message{Subject: strings.TrimSpace(subject)}
	rest = strings.Trim(rest, "\n")
	if rest == "" {
		return m
	}
	body, last := "", rest
	if i := strings.LastIndex(rest, "\n\n"); i >= 0 {
		body, last = rest[:i], rest[i+2:]
	}
	if trailers, ok := parseTrailers(last); ok {
		m.Trailers = trailers
		m.Body = strings.Trim(body, "\n")
		return m
	}
	m.Body = rest
	return m
}

func parseTrailers(block string) ([]Trailer, bool) {
	var out []Trailer
	for _, line := range strings.Split(block, "\n") {
		if (strings.HasPrefix(line, " ") || strings.HasPrefix(line, "\t")) && len(out) > 0 {
			out[len(out)-1].Value += " " + strings.TrimSpace(line)
			continue
		}
		t, ok := ParseTrailerLine(line)
		if !ok {
			return nil, false
		}
		out = append(out, t)
	}
	return out, len(out) > 0
}

// ParseTrailerLine reads one trailer line, "Key: Value" where Key is
// letters, digits and '-', and reports whether line is one.
func ParseTrailerLine(line string) (Trailer, bool) {
	key, value, ok := strings.Cut(line, ":")
	if !ok || key == "" {
		return Trailer{}, false
	}
	for _, r := range key {
		if !(r == '-' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return Trailer{}, false
		}
	}
	return Trailer{Key: key, Value: strings.TrimSpace(value)}, true
}

// lineBreaks replaces each line break with a space (built once: a
// Replacer prepares its tables on first use).
var lineBreaks = strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ")

func oneLine(s string) string {
	if strings.ContainsAny(s, "\r\n") {
		s = lineBreaks.Replace(s)
	}
	return strings.TrimSpace(s)
}
