package source_test

import (
	"context"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bindsync/bindsync/internal/agent/source"
)

// serveGit serves the repositories under root with git's own http-backend,
// behind a check of the Authorization header.
func serveGit(t *testing.T, root string, authorized func(*http.Request) bool) *httptest.Server {
	t.Helper()
	out, err := exec.Command("git", "--exec-path").Output()
	if err != nil {
		t.Skipf("git is not installed: %v", err)
	}
	backend := &cgi.Handler{
		Path: filepath.Join(strings.TrimSpace(string(out)), "git-http-backend"),
		Env:  []string{"GIT_PROJECT_ROOT=" + root, "GIT_HTTP_EXPORT_ALL=1"},
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !authorized(r) {
			w.Header().Set("WWW-Authenticate", `Basic realm="git"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		backend.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestGetOverHTTPWithCredentialsFromFiles(t *testing.T) {
	repo := newTestRepo(t)
	head := repo.commit(map[string]string{"clusters/c1/app/kustomization.yaml": "resources: []\n"}, nil)
	srv := serveGit(t, filepath.Dir(repo.dir), func(r *http.Request) bool {
		if u, p, ok := r.BasicAuth(); ok {
			return u == "agent" && p == "s3cret"
		}
		return r.Header.Get("Authorization") == "Bearer t0ken"
	})
	url := srv.URL + "/" + filepath.Base(repo.dir)
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(content+"\n"), 0o600))
		return p
	}
	tests := []struct {
		name string
		auth source.Auth
		ok   bool
	}{
		{"basic auth from a password file", source.Auth{Username: "agent", PasswordFile: write("password", "s3cret")}, true},
		{"bearer token from a file", source.Auth{BearerTokenFile: write("token", "t0ken")}, true},
		{"wrong password", source.Auth{Username: "agent", PasswordFile: write("wrong", "nope")}, false},
		{"no credentials", source.Auth{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src, err := source.New(source.Options{URL: url, Dir: "clusters/c1/app", Auth: tt.auth})
			require.NoError(t, err)
			snap, fetched, err := src.Get(context.Background())
			if !tt.ok {
				assert.ErrorIs(t, err, source.ErrUnavailable)
				return
			}
			require.NoError(t, err)
			assert.True(t, fetched)
			assert.Equal(t, head, snap.Revision.Hash)
			assert.Contains(t, snap.FS, "clusters/c1/app/kustomization.yaml")
		})
	}
}
