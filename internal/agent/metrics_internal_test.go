package agent

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
)

func TestWebhookRefusalsAreCounted(t *testing.T) {
	unsigned := testutil.ToFloat64(webhookCalls.WithLabelValues("unsigned"))
	bad := testutil.ToFloat64(webhookCalls.WithLabelValues("bad_signature"))
	h := WebhookHandler([]byte("secret"), "", func() { t.Error("triggered") })

	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/", strings.NewReader("{}")))
	req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader("{}"))
	req.Header.Set(GitHubSignatureHeader, "sha256=00")
	h.ServeHTTP(httptest.NewRecorder(), req)

	assert.Equal(t, unsigned+1, testutil.ToFloat64(webhookCalls.WithLabelValues("unsigned")))
	assert.Equal(t, bad+1, testutil.ToFloat64(webhookCalls.WithLabelValues("bad_signature")))
}
