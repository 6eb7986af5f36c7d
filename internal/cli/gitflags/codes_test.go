package gitflags_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	"github.com/spf13/cobra"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/bindsync/bindsync/internal/cli/approve"
	"github.com/bindsync/bindsync/internal/cli/exitcode"
	"github.com/bindsync/bindsync/internal/cli/gitflags"
	logcmd "github.com/bindsync/bindsync/internal/cli/log"
	"github.com/bindsync/bindsync/internal/git"
	"github.com/bindsync/bindsync/internal/testutil/gitrepo"
	"github.com/bindsync/bindsync/internal/testutil/sshgit"
)

// remote wraps err as internal/git wraps a transport failure.
func remote(err error) error {
	return fmt.Errorf("fetch from https://git.example.com/state.git: %w: %w", git.ErrRemote, err)
}

func httpErr(code int) error {
	return plumbing.NewUnexpectedError(&githttp.Err{Response: &http.Response{StatusCode: code, Request: httptest.NewRequest(http.MethodGet, "https://git.example.com/state.git/info/refs", nil)}})
}

// TestCodeOf: the one table mapping an error of the state repository to an
// exit code.
func TestCodeOf(t *testing.T) {
	for name, tc := range map[string]struct {
		err  error
		want int
	}{
		"nil":                                   {nil, exitcode.OK},
		"already coded":                         {fmt.Errorf("x: %w", exitcode.New(exitcode.Conflict, errors.New("moved"))), exitcode.Conflict},
		"main moved":                            {fmt.Errorf("push main: %w", git.ErrNonFastForward), exitcode.Conflict},
		"invalid options":                       {fmt.Errorf("git options: %w", git.ErrInvalidOptions), exitcode.Unusable},
		"credentials in the URL":                {fmt.Errorf("--repo: %w", git.ErrURLCredentials), exitcode.Unusable},
		"http 401":                              {remote(fmt.Errorf("%w: ", transport.ErrAuthenticationRequired)), exitcode.Refused},
		"http 403":                              {remote(fmt.Errorf("%w: ", transport.ErrAuthorizationFailed)), exitcode.Refused},
		"no such repository":                    {remote(transport.ErrRepositoryNotFound), exitcode.Refused},
		"http 500":                              {remote(httpErr(500)), exitcode.Refused},
		"http 400":                              {remote(httpErr(400)), exitcode.Refused},
		"http 502":                              {remote(httpErr(502)), exitcode.Unreachable},
		"http 503":                              {remote(httpErr(503)), exitcode.Unreachable},
		"http 504":                              {remote(httpErr(504)), exitcode.Unreachable},
		"http 429":                              {remote(httpErr(429)), exitcode.Unreachable},
		"ssh key refused":                       {remote(errors.New("ssh: handshake failed: ssh: unable to authenticate, attempted methods [none publickey], no supported methods remain")), exitcode.Refused},
		"push declined by a hook":               {remote(fmt.Errorf("%w: command error on refs/heads/main: pre-receive hook declined", git.ErrRefused)), exitcode.Refused},
		"connection refused":                    {remote(&net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}), exitcode.Unreachable},
		"connection refused, wrapped by go-git": {remote(plumbing.NewUnexpectedError(fmt.Errorf("dial: %w", syscall.ECONNREFUSED))), exitcode.Unreachable},
		"name does not resolve":                 {remote(&net.DNSError{Err: "no such host", Name: "git.example.com", IsNotFound: true}), exitcode.Unreachable},
		"timeout":                               {remote(context.DeadlineExceeded), exitcode.Unreachable},
		"connection reset":                      {remote(io.ErrUnexpectedEOF), exitcode.Unreachable},
		"host key mismatch":                     {remote(fmt.Errorf("ssh: handshake failed: %w", &knownhosts.KeyError{})), exitcode.Unreachable},
		"other remote failure":                  {remote(errors.New("something odd")), exitcode.Unreachable},
		"unreadable content":                    {errors.New("read commit 1a2b in /tmp/cache: object not found"), exitcode.Problems},
	} {
		t.Run(name, func(t *testing.T) {
			assert.Equal(t, tc.want, gitflags.CodeOf(tc.err), "%v", tc.err)
		})
	}
}

// TestApproveAndLogExitCodes: approve and log exit 9 for a state
// repository they cannot reach, 11 for one that refuses their credentials,
// 1 for a branch the repository does not have (nothing to approve), and 2
// only for a --repo that is no repository; they used to exit 2 for all.
func TestApproveAndLogExitCodes(t *testing.T) {
	root := t.TempDir()
	bare := filepath.Join(root, "state.git")
	gitrepo.Bare(t, bare)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	closed := "http://" + ln.Addr().String() + "/state.git"
	require.NoError(t, ln.Close())

	status := func(code int) string {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, http.StatusText(code), code)
		}))
		t.Cleanup(srv.Close)
		return srv.URL + "/state.git"
	}
	password := filepath.Join(root, "password")
	require.NoError(t, os.WriteFile(password, []byte("wrong\n"), 0o600))
	basic := []string{"--git-username", "me", "--git-password-file", password}

	ssh := sshgit.Start(t, root)
	strangerKey := filepath.Join(t.TempDir(), "id_ed25519")
	sshgit.WriteKey(t, strangerKey)

	notARepo := t.TempDir()
	cases := []struct {
		name     string
		repo     []string
		branch   string // log: --branch; approve: the branch to approve
		want     int
		contains string
	}{
		{name: "closed port", repo: []string{"--repo", closed}, want: exitcode.Unreachable, contains: "127.0.0.1"},
		{name: "http 401", repo: append([]string{"--repo", status(http.StatusUnauthorized)}, basic...), want: exitcode.Refused, contains: "authentication required"},
		{name: "http 403", repo: append([]string{"--repo", status(http.StatusForbidden)}, basic...), want: exitcode.Refused, contains: "authorization failed"},
		{name: "ssh key refused", repo: []string{"--repo", ssh.URL("state.git"), "--git-ssh-key-file", strangerKey, "--git-known-hosts-file", ssh.KnownHostsFile},
			want: exitcode.Refused, contains: "the server refused the key"},
		{name: "no such branch", repo: []string{"--repo", bare}, branch: "bindsync/approve/c1/r", want: exitcode.Problems, contains: "has no branch bindsync/approve/c1/r"},
		{name: "not a repository", repo: []string{"--repo", notARepo}, want: exitcode.Unusable, contains: "is not a git repository"},
		{name: "no such folder", repo: []string{"--repo", filepath.Join(root, "nowhere")}, want: exitcode.Unusable, contains: "no such folder and not a URL"},
	}
	commands := map[string]func(branch string) (*cobra.Command, []string){
		"approve": func(branch string) (*cobra.Command, []string) {
			if branch == "" {
				branch = "bindsync/approve/c1/r"
			}
			return approve.NewCommand(io.Discard, io.Discard), []string{branch, "--approver", "Pat <pat@example.com>"}
		},
		"log": func(branch string) (*cobra.Command, []string) {
			if branch == "" {
				branch = "main"
			}
			return logcmd.NewCommand(io.Discard, io.Discard), []string{"--branch", branch}
		},
	}
	for cmdName, newCmd := range commands {
		for _, tc := range cases {
			t.Run(cmdName+"/"+tc.name, func(t *testing.T) {
				branch := tc.branch
				if cmdName == "log" && tc.want == exitcode.Problems {
					branch = "nope"
				}
				cmd, args := newCmd(branch)
				cmd.SetArgs(append(args, tc.repo...))
				cmd.SetOut(&bytes.Buffer{})
				cmd.SetErr(&bytes.Buffer{})
				err := cmd.ExecuteContext(context.Background())
				var coded *exitcode.Error
				require.True(t, errors.As(err, &coded), "%v", err)
				assert.Equal(t, tc.want, coded.Code, "%v", err)
				want := tc.contains
				if cmdName == "log" && tc.want == exitcode.Problems {
					want = "has no branch nope"
				}
				assert.ErrorContains(t, err, want)
			})
		}
	}
}
