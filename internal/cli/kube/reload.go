package kube

import (
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	utilnet "k8s.io/apimachinery/pkg/util/net"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// ReloadingConfig reads the kubeconfig at path for a long-running process
// (the agent, the backend). A bearer token written into the file (what
// `bindsync cluster add` writes: a TokenRequest token that expires) is read
// again from the file whenever the file changes and after the API server
// answers 401, so replacing the file (a Secret updated in place, a new
// `cluster add`) takes effect on the next request, without a restart. A
// kubeconfig that names a token file (tokenFile) already gets that from
// client-go, which re-reads the file; client certificates and exec plugins
// are used as client-go handles them.
func ReloadingConfig(path string) (*rest.Config, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		return nil, fmt.Errorf("kubeconfig %s: %w", path, err)
	}
	if cfg.BearerToken == "" || cfg.BearerTokenFile != "" {
		return cfg, nil
	}
	tok := &fileToken{path: path, token: cfg.BearerToken}
	tok.stamp, _ = stampOf(path)
	cfg.BearerToken = ""
	cfg.WrapTransport = chainWrap(cfg.WrapTransport, func(rt http.RoundTripper) http.RoundTripper {
		return &tokenRoundTripper{token: tok, next: rt}
	})
	return cfg, nil
}

func chainWrap(first, second func(http.RoundTripper) http.RoundTripper) func(http.RoundTripper) http.RoundTripper {
	if first == nil {
		return second
	}
	return func(rt http.RoundTripper) http.RoundTripper { return second(first(rt)) }
}

// stamp identifies one version of a file.
type stamp struct {
	mod  time.Time
	size int64
}

func stampOf(path string) (stamp, error) {
	st, err := os.Stat(path) // follows a Secret volume's ..data symlink
	if err != nil {
		return stamp{}, err
	}
	return stamp{mod: st.ModTime(), size: st.Size()}, nil
}

// fileToken is the bearer token of a kubeconfig file, read again when the
// file changes or the server refused it.
type fileToken struct {
	path string

	mu    sync.Mutex
	token string
	stamp stamp
	stale bool // the server answered 401 with token
}

// get returns the current token. A file that cannot be read or holds no
// token leaves the last one in use: the next request tries again, and the
// API server's 401 says what is wrong.
func (t *fileToken) get() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	now, err := stampOf(t.path)
	if err != nil || (now == t.stamp && !t.stale) {
		return t.token
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", t.path)
	if err != nil {
		return t.token
	}
	token := cfg.BearerToken
	if token == "" && cfg.BearerTokenFile != "" {
		b, err := os.ReadFile(cfg.BearerTokenFile)
		if err != nil {
			return t.token
		}
		token = strings.TrimSpace(string(b))
	}
	if token != "" {
		t.token, t.stamp, t.stale = token, now, false
	}
	return t.token
}

// refused marks token as refused by the server: the next request reads the
// file again, even if it looks unchanged.
func (t *fileToken) refused(token string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.token == token {
		t.stale = true
	}
}

// tokenRoundTripper sets the bearer token of each request that has no
// Authorization header of its own.
type tokenRoundTripper struct {
	token *fileToken
	next  http.RoundTripper
}

func (rt *tokenRoundTripper) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Header.Get("Authorization") != "" {
		return rt.next.RoundTrip(req)
	}
	token := rt.token.get()
	req = utilnet.CloneRequest(req)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := rt.next.RoundTrip(req)
	if err == nil && resp.StatusCode == http.StatusUnauthorized {
		rt.token.refused(token)
	}
	return resp, err
}

// WrappedRoundTripper lets client-go's debugging wrappers see through.
func (rt *tokenRoundTripper) WrappedRoundTripper() http.RoundTripper { return rt.next }
