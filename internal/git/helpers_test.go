package git

import (
	"context"
	"fmt"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/stretchr/testify/require"

	"github.com/bindsync/bindsync/internal/staterepo"
	"github.com/bindsync/bindsync/internal/testutil/sshgit"
)

// gitCLI runs the git command line in dir with a clean, fixed environment
// and returns its trimmed output.
func gitCLI(t testing.TB, dir string, args ...string) string {
	t.Helper()
	out, err := gitCLIErr(dir, args...)
	require.NoError(t, err, "git %s in %s:\n%s", strings.Join(args, " "), dir, out)
	return out
}

func gitCLIErr(dir string, args ...string) (string, error) {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1", "GIT_TERMINAL_PROMPT=0",
		"GIT_AUTHOR_NAME=other writer", "GIT_AUTHOR_EMAIL=other@example.invalid",
		"GIT_COMMITTER_NAME=other writer", "GIT_COMMITTER_EMAIL=other@example.invalid",
	)
	out, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// countObjects counts the objects stored in the repository at dir, loose
// and packed (git count-objects).
func countObjects(t testing.TB, dir string) int {
	t.Helper()
	n := 0
	for _, line := range strings.Split(gitCLI(t, dir, "count-objects", "-v"), "\n") {
		k, v, _ := strings.Cut(line, ": ")
		if k == "count" || k == "in-pack" {
			i, err := strconv.Atoi(v)
			require.NoError(t, err)
			n += i
		}
	}
	return n
}

// testRemote is one kind of remote the conformance suite runs against.
type testRemote struct {
	// Options for a Repo on the remote (Dir included).
	Options Options
	// CLIURL is what the git command line clones from and pushes to.
	CLIURL string
	// Bare is the remote's repository folder (the Repo's own for a local repo).
	Bare string
	// Break makes the remote unreachable; Restore brings it back. Nil for a
	// local repository, which has no remote to lose.
	Break, Restore func()
}

type remoteFactory func(t *testing.T) testRemote

func newBare(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "remote.git")
	gitCLI(t, t.TempDir(), "init", "-q", "--bare", "-b", "main", dir)
	return dir
}

func localRemote(t *testing.T) testRemote {
	dir := filepath.Join(t.TempDir(), "state.git")
	return testRemote{Options: Options{Dir: dir}, CLIURL: dir, Bare: dir}
}

func fileRemote(t *testing.T) testRemote {
	bare := newBare(t)
	moved := bare + ".away"
	return testRemote{
		Options: Options{URL: "file://" + bare, Dir: filepath.Join(t.TempDir(), "cache")},
		CLIURL:  "file://" + bare,
		Bare:    bare,
		Break:   func() { require.NoError(t, os.Rename(bare, moved)) },
		Restore: func() { require.NoError(t, os.Rename(moved, bare)) },
	}
}

const (
	httpUser     = "bindsync"
	httpPassword = "s3cret"
	httpToken    = "t0ken"
)

// httpServer serves the bare repositories under root over smart HTTP
// through git http-backend, behind basic auth.
func httpServer(t *testing.T, root string) *httptest.Server {
	t.Helper()
	execPath := gitCLI(t, root, "--exec-path")
	backend := filepath.Join(execPath, "git-http-backend")
	_, err := os.Stat(backend)
	require.NoError(t, err, "git http-backend is part of git; it was not found under git --exec-path")
	cgiHandler := &cgi.Handler{
		Path: backend,
		Root: "/",
		Env:  []string{"GIT_PROJECT_ROOT=" + root, "GIT_HTTP_EXPORT_ALL=1", "GIT_CONFIG_NOSYSTEM=1"},
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		u, p, ok := req.BasicAuth()
		bearer := req.Header.Get("Authorization") == "Bearer "+httpToken
		if !bearer && (!ok || u != httpUser || p != httpPassword) {
			w.Header().Set("WWW-Authenticate", `Basic realm="bindsync test"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		cgiHandler.ServeHTTP(w, req)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func httpRemote(t *testing.T) testRemote {
	bare := newBare(t)
	gitCLI(t, bare, "config", "http.receivepack", "true")
	srv := httpServer(t, filepath.Dir(bare))
	pwFile := filepath.Join(t.TempDir(), "password")
	require.NoError(t, os.WriteFile(pwFile, []byte(httpPassword+"\n"), 0o600))
	url := srv.URL + "/" + filepath.Base(bare)
	cred := strings.Replace(url, "http://", "http://"+httpUser+":"+httpPassword+"@", 1)
	var saved http.Handler
	return testRemote{
		Options: Options{URL: url, Dir: filepath.Join(t.TempDir(), "cache"), Auth: Auth{Username: httpUser, PasswordFile: pwFile}},
		CLIURL:  cred,
		Bare:    bare,
		Break: func() {
			saved = srv.Config.Handler
			srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				hj, _ := w.(http.Hijacker)
				c, _, _ := hj.Hijack()
				_ = c.Close() // the connection drops, as with a server gone away
			})
		},
		Restore: func() { srv.Config.Handler = saved },
	}
}

// sshRemote serves a bare repository over ssh (internal/testutil/sshgit:
// git's own upload-pack and receive-pack behind an in-process ssh server),
// with a client key and a known_hosts file. The git command line, the
// "other writer" of the suite, reaches the same repository over file://.
func sshRemote(t *testing.T) testRemote {
	rem, _ := sshRemoteServer(t)
	return rem
}

func sshRemoteServer(t *testing.T) (testRemote, *sshgit.Server) {
	bare := newBare(t)
	srv := sshgit.Start(t, filepath.Dir(bare))
	return testRemote{
		Options: Options{URL: srv.URL(filepath.Base(bare)), Dir: filepath.Join(t.TempDir(), "cache"),
			Auth: Auth{SSHKeyFile: srv.ClientKeyFile, KnownHostsFile: srv.KnownHostsFile}},
		CLIURL:  "file://" + bare,
		Bare:    bare,
		Break:   func() { srv.SetDown(true) },
		Restore: func() { srv.SetDown(false) },
	}, srv
}

func openRepo(t testing.TB, o Options) *Repo {
	t.Helper()
	o.Now = fixedClock()
	r, err := Open(context.Background(), o)
	require.NoError(t, err)
	return r
}

// fixedClock ticks one second per call from a fixed instant, so commits
// are reproducible and ordered.
func fixedClock() func() time.Time {
	t0 := time.Unix(1700000000, 0).UTC()
	n := 0
	return func() time.Time { n++; return t0.Add(time.Duration(n) * time.Second) }
}

// cloneCLI clones the remote with the git command line into a fresh folder.
func cloneCLI(t *testing.T, url string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "clone")
	gitCLI(t, t.TempDir(), "clone", "-q", url, dir)
	return dir
}

func bindMessage(cluster, request string) staterepo.Message {
	return staterepo.Message{
		Subject: fmt.Sprintf("bind: %s <- postgresql", cluster),
		Body:    "Rendered by the conformance suite.",
		Trailers: []staterepo.Trailer{
			{Key: staterepo.TrailerCluster, Value: cluster},
			{Key: staterepo.TrailerRequest, Value: "bindsync-" + cluster + "/" + request},
			{Key: staterepo.TrailerTemplate, Value: "postgresql"},
			{Key: staterepo.TrailerCause, Value: "request"},
		},
	}
}

// sampleTree is a small state repository; shared content shares a slice,
// as render's trees do.
func sampleTree(clusters ...string) staterepo.Tree {
	crd := []byte("kind: CustomResourceDefinition\nmetadata:\n  name: postgresqlinstances.anynines.com\n")
	t := staterepo.Tree{"README.md": []byte("state\n"), ".bindsync.yaml": []byte("format: 1\n")}
	for _, c := range clusters {
		t["clusters/"+c+"/app/crds/postgresqlinstances.anynines.com.yaml"] = crd
		t["clusters/"+c+"/app/kustomization.yaml"] = []byte("resources:\n- crds/postgresqlinstances.anynines.com.yaml\n")
		t["clusters/"+c+"/control-plane/namespace.yaml"] = []byte("name: bindsync-" + c + "\n")
	}
	return t
}

func with(t staterepo.Tree, path, content string) staterepo.Tree {
	out := staterepo.Tree{}
	for k, v := range t {
		out[k] = v
	}
	out[path] = []byte(content)
	return out
}

func constTree(tree staterepo.Tree, msg staterepo.Message) func(plumbing.Hash) (staterepo.Tree, staterepo.Message, error) {
	return func(plumbing.Hash) (staterepo.Tree, staterepo.Message, error) { return tree, msg, nil }
}
