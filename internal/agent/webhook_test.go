package agent_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/bindsync/bindsync/internal/agent"
	_ "github.com/bindsync/bindsync/internal/testutil/golden" // go test ./... -update
)

func sign(secret, body string) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(body))
	return hex.EncodeToString(mac.Sum(nil))
}

func TestWebhookHandler(t *testing.T) {
	const secret, body = "s3cret", `{"ref":"refs/heads/main"}`
	tests := []struct {
		name      string
		method    string
		header    map[string]string
		want      int
		triggered bool
	}{
		{"GitHub signature is accepted", http.MethodPost, map[string]string{agent.GitHubSignatureHeader: "sha256=" + sign(secret, body)}, http.StatusAccepted, true},
		{"generic signature is accepted", http.MethodPost, map[string]string{agent.GenericSignatureHeader: sign(secret, body)}, http.StatusAccepted, true},
		{"unsigned call is refused", http.MethodPost, nil, http.StatusUnauthorized, false},
		{"signature with another secret is refused", http.MethodPost, map[string]string{agent.GitHubSignatureHeader: "sha256=" + sign("other", body)}, http.StatusUnauthorized, false},
		{"signature of another body is refused", http.MethodPost, map[string]string{agent.GitHubSignatureHeader: "sha256=" + sign(secret, body+" ")}, http.StatusUnauthorized, false},
		{"garbage signature is refused", http.MethodPost, map[string]string{agent.GenericSignatureHeader: "zz"}, http.StatusUnauthorized, false},
		{"GET is refused", http.MethodGet, map[string]string{agent.GitHubSignatureHeader: "sha256=" + sign(secret, body)}, http.StatusMethodNotAllowed, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			triggered := false
			h := agent.WebhookHandler([]byte(secret), "", func() { triggered = true })
			req := httptest.NewRequest(tt.method, "/", strings.NewReader(body))
			for k, v := range tt.header {
				req.Header.Set(k, v)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			assert.Equal(t, tt.want, rec.Code)
			assert.Equal(t, tt.triggered, triggered)
		})
	}
}
