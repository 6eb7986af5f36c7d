package agent

import (
	"bufio"
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/controller-runtime/pkg/event"
)

// recordedSecret signed every delivery of testdata/webhooks (its README).
const recordedSecret = "It's a Secret to Everybody"

// recorded reads a delivery of testdata/webhooks: its body and headers.
func recorded(t *testing.T, name, bodyExt string) ([]byte, http.Header) {
	t.Helper()
	body, err := os.ReadFile(filepath.Join("testdata", "webhooks", name+bodyExt))
	require.NoError(t, err)
	raw, err := os.ReadFile(filepath.Join("testdata", "webhooks", name+".headers"))
	require.NoError(t, err)
	h := http.Header{}
	sc := bufio.NewScanner(bytes.NewReader(raw))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ": ")
		require.True(t, ok, "header line %q", sc.Text())
		h.Set(k, v)
	}
	return body, h
}

// TestWebhookForges posts each forge's recorded push delivery, with its
// recorded signature, to a running webhook server: the push to the followed
// branch triggers a pass (202); the same delivery refused when the agent's
// secret is another (401), when the signature header is missing (401), and
// ignored when the agent follows another branch (200, no pass).
func TestWebhookForges(t *testing.T) {
	forges := []struct {
		name, branch, signatureHeader string
	}{
		{"github-push", "master", GitHubSignatureHeader},
		{"gitlab-push", "master", GitLabTokenHeader},
		{"gitea-push", "master", GiteaSignatureHeader},
		{"bitbucket-cloud-push", "name-of-branch", BitbucketSignatureHeader},
		{"bitbucket-server-push", "feature/wip", BitbucketSignatureHeader},
	}
	for _, f := range forges {
		t.Run(f.name, func(t *testing.T) {
			body, header := recorded(t, f.name, ".json")
			cases := []struct {
				name, secret, branch string
				header               http.Header
				want                 int
				triggered            bool
			}{
				{"the push to the followed branch triggers a pass", recordedSecret, f.branch, header, http.StatusAccepted, true},
				{"any branch triggers when none is set", recordedSecret, "", header, http.StatusAccepted, true},
				{"a push to another branch is ignored", recordedSecret, "main-other", header, http.StatusOK, false},
				{"another secret refuses it", "not the secret", f.branch, header, http.StatusUnauthorized, false},
				{"without its signature it is refused", recordedSecret, f.branch, without(header, f.signatureHeader, GitHubSignatureHeader), http.StatusUnauthorized, false},
			}
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					code, triggered := postDelivery(t, c.secret, c.branch, body, c.header)
					assert.Equal(t, c.want, code)
					assert.Equal(t, c.triggered, triggered)
				})
			}
		})
	}

	t.Run("GitHub's documented test vector, in the generic form", func(t *testing.T) {
		body, header := recorded(t, "github-docs-vector", ".body")
		code, triggered := postDelivery(t, recordedSecret, "main", body, header)
		assert.Equal(t, http.StatusAccepted, code)
		assert.True(t, triggered)
	})

	t.Run("a signed GitHub ping is answered and triggers nothing", func(t *testing.T) {
		body := []byte(`{"zen":"Keep it logically awesome.","hook_id":1}`)
		header := http.Header{}
		header.Set(GitHubEventHeader, "ping")
		header.Set(GitHubSignatureHeader, "sha256="+sign(recordedSecret, body))
		code, triggered := postDelivery(t, recordedSecret, "main", body, header)
		assert.Equal(t, http.StatusOK, code)
		assert.False(t, triggered)
	})

	t.Run("a Bitbucket signature without its sha256= prefix is refused", func(t *testing.T) {
		body, header := recorded(t, "bitbucket-server-push", ".json")
		header = header.Clone()
		header.Set(BitbucketSignatureHeader, "x")
		code, triggered := postDelivery(t, recordedSecret, "feature/wip", body, header)
		assert.Equal(t, http.StatusUnauthorized, code)
		assert.False(t, triggered)
	})

	t.Run("a signed GitLab delivery that is not JSON is a bad request", func(t *testing.T) {
		header := http.Header{}
		header.Set(GitLabEventHeader, "Push Hook")
		header.Set(GitLabTokenHeader, recordedSecret)
		code, triggered := postDelivery(t, recordedSecret, "main", []byte("not json"), header)
		assert.Equal(t, http.StatusBadRequest, code)
		assert.False(t, triggered)
	})
}

// postDelivery posts body with header to a webhook server with secret,
// following branch, and says what it answered and whether a pass was queued.
func postDelivery(t *testing.T, secret, branch string, body []byte, header http.Header) (int, bool) {
	t.Helper()
	file := filepath.Join(t.TempDir(), "secret")
	require.NoError(t, os.WriteFile(file, []byte(secret+"\n"), 0o600))
	triggers := make(chan event.GenericEvent, 1)
	addr := startWebhookWith(t, WebhookOptions{SecretFile: file, Branch: branch}, triggers, 0)
	req, err := http.NewRequest(http.MethodPost, "http://"+addr+"/", bytes.NewReader(body))
	require.NoError(t, err)
	req.Header = header.Clone()
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	_ = resp.Body.Close()
	select {
	case <-triggers:
		return resp.StatusCode, true
	case <-time.After(100 * time.Millisecond):
		return resp.StatusCode, false
	}
}

func without(h http.Header, keys ...string) http.Header {
	h = h.Clone()
	for _, k := range keys {
		h.Del(k)
	}
	return h
}

func sign(secret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return hex.EncodeToString(mac.Sum(nil))
}
