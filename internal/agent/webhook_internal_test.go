package agent

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net"
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

// startWebhook serves a webhook on a loopback port until the test ends and
// returns its address; timeouts shortens the server's deadlines.
func startWebhook(t *testing.T, secretFile string, triggers chan event.GenericEvent, timeouts time.Duration) string {
	t.Helper()
	return startWebhookWith(t, WebhookOptions{SecretFile: secretFile}, triggers, timeouts)
}

// startWebhookWith is startWebhook with o (Addr is set to a loopback port).
func startWebhookWith(t *testing.T, o WebhookOptions, triggers chan event.GenericEvent, timeouts time.Duration) string {
	t.Helper()
	o.Addr = "127.0.0.1:0"
	w, err := newWebhook(o, triggers)
	require.NoError(t, err)
	if timeouts > 0 {
		w.readHeaderTimeout, w.readTimeout, w.writeTimeout, w.idleTimeout = timeouts, timeouts, timeouts, timeouts
	}
	ready := make(chan net.Addr, 1)
	w.ready = ready
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Start(ctx) }()
	t.Cleanup(func() { cancel(); assert.NoError(t, <-done) })
	select {
	case a := <-ready:
		return a.String()
	case err := <-done:
		t.Fatalf("webhook did not start: %v", err)
	}
	return ""
}

// closedWithin says whether the server closes conn within d.
func closedWithin(conn net.Conn, d time.Duration) bool {
	_ = conn.SetReadDeadline(time.Now().Add(d))
	_, err := io.Copy(io.Discard, conn)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return false // still open when our deadline passed
	}
	return true
}

// TestWebhookServerDropsSlowCallers: a caller that sends its headers or its
// body slowly is disconnected when the server's deadline passes, instead of
// holding a connection for as long as it likes.
func TestWebhookServerDropsSlowCallers(t *testing.T) {
	secret := filepath.Join(t.TempDir(), "secret")
	require.NoError(t, os.WriteFile(secret, []byte("s"), 0o600))
	addr := startWebhook(t, secret, make(chan event.GenericEvent, 1), 300*time.Millisecond)

	cases := map[string]string{
		"headers never finish": "POST / HTTP/1.1\r\nHost: x\r\n",
		"body never finishes":  "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{",
	}
	for name, partial := range cases {
		t.Run(name, func(t *testing.T) {
			conn, err := net.Dial("tcp", addr)
			require.NoError(t, err)
			defer conn.Close()
			_, err = conn.Write([]byte(partial))
			require.NoError(t, err)
			assert.True(t, closedWithin(conn, 5*time.Second), "the server closes a stalled call after its deadline")
		})
	}

	t.Run("a body over the limit is refused", func(t *testing.T) {
		resp, err := http.Post("http://"+addr, "application/json", bytes.NewReader(make([]byte, maxWebhookBody+1)))
		require.NoError(t, err)
		defer resp.Body.Close()
		assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
	})
}

// TestWebhookSecretIsReadOnUse: replacing the secret file while the agent
// runs takes effect on the next call, without a restart.
func TestWebhookSecretIsReadOnUse(t *testing.T) {
	secret := filepath.Join(t.TempDir(), "secret")
	require.NoError(t, os.WriteFile(secret, []byte("old-secret\n"), 0o600))
	triggers := make(chan event.GenericEvent, 1)
	addr := startWebhook(t, secret, triggers, 0)

	call := func(key string) int {
		body := `{"ref":"refs/heads/main"}`
		mac := hmac.New(sha256.New, []byte(key))
		mac.Write([]byte(body))
		req, err := http.NewRequest(http.MethodPost, "http://"+addr, strings.NewReader(body))
		require.NoError(t, err)
		req.Header.Set(GitHubSignatureHeader, "sha256="+hex.EncodeToString(mac.Sum(nil)))
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		_ = resp.Body.Close()
		select {
		case <-triggers:
		default:
		}
		return resp.StatusCode
	}
	require.Equal(t, http.StatusAccepted, call("old-secret"))

	require.NoError(t, os.WriteFile(secret, []byte("new-secret\n"), 0o600))
	assert.Equal(t, http.StatusAccepted, call("new-secret"), "the rotated secret is accepted")
	assert.Equal(t, http.StatusUnauthorized, call("old-secret"), "the old secret is refused")

	require.NoError(t, os.Remove(secret))
	assert.Equal(t, http.StatusServiceUnavailable, call("new-secret"), "a missing secret file refuses every call")
}
