// Package exitcode defines the exit codes every bindsync command shares and an
// error type that carries one up to the top of the program.
package exitcode

import "strconv"

const (
	// OK means the command did everything it was asked.
	OK = 0
	// Problems means the command ran, but found problems in its input
	// (render: some objects are bad; check: a breaking change; approve: no
	// such branch, or a change outside the branch's scope; log: no such
	// branch).
	Problems = 1
	// Unusable means bad usage: the command could not start its job
	// (bad flags or arguments, unreadable input, YAML that does not parse,
	// a kubeconfig that is missing or names no such context, unreadable
	// credential files, a --repo that is no URL and no repository folder).
	// Nothing else exits 2: a cluster or a state repository that cannot be
	// reached is Unreachable, a server that answers with an error is Refused.
	Unusable = 2
	// Timeout means a command waited --timeout for something that did not
	// happen, for a reason none of the codes below names (cluster add: the
	// backend did not create the cluster's namespace; bind: a binding that
	// the agent reports as not Ready).
	Timeout = 3
	// TemplateNotFound means bind asked for a template the control plane
	// does not have.
	TemplateNotFound = 4
	// ApprovalTimedOut means bind's request waited for approval (a pending
	// bindsync/approve/ branch) longer than --timeout.
	ApprovalTimedOut = 5
	// Rejected means the request was rejected: its approval branch was
	// deleted without a merge, or its bind commit was reverted on main.
	Rejected = 6
	// AgentNotRunning means bind's APIServiceBindings got no status from the
	// app cluster's agent within --timeout.
	AgentNotRunning = 7
	// Conflict means approve found main moved since the branch was built;
	// the backend rebuilds the branch on main, then approve can run again.
	Conflict = 8
	// Unreachable means a cluster or the state repository could not be
	// reached: the connection was refused, reset or timed out
	// (--request-timeout), its name did not resolve, TLS or the ssh host key
	// check failed, or the server was too busy or unavailable. Retrying
	// later, or with the right kubeconfig or --repo, may work.
	Unreachable = 9
	// Stalled means bind stopped waiting because the request or a binding
	// is Stalled: it needs a human (its reason and message are printed),
	// so waiting out --timeout would change nothing.
	Stalled = 10
	// Refused means an API server answered with an error (forbidden,
	// unauthorized, invalid, or a server error), or the state repository's
	// server refused: authentication failed, access denied, no such
	// repository, or a push declined for a reason other than main moving
	// (a hook, a protected branch; main moving is Conflict).
	Refused = 11
)

// Error carries an exit code to app.RunAs. A nil Err means the command already
// printed everything the user needs.
type Error struct {
	Code int
	Err  error
}

func (e *Error) Error() string {
	if e.Err == nil {
		return "exit code " + strconv.Itoa(e.Code)
	}
	return e.Err.Error()
}

func (e *Error) Unwrap() error { return e.Err }

// New returns an error that makes bindsync exit with code after printing err.
func New(code int, err error) error { return &Error{Code: code, Err: err} }

// Silent returns an error that makes bindsync exit with code and print nothing more.
func Silent(code int) error { return &Error{Code: code} }
