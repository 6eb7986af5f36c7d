package agent

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/event"

	"github.com/bindsync/bindsync/api/v1alpha1"
)

// Webhook signature headers: GitHub's form, "sha256=<hex>", and a generic
// one holding the hex HMAC alone (or also with the sha256= prefix).
const (
	GitHubSignatureHeader  = "X-Hub-Signature-256"
	GenericSignatureHeader = "X-Bindsync-Signature"
)

// maxWebhookBody bounds what a caller may send before being checked.
const maxWebhookBody = 1 << 20

// WebhookOptions configure the push-notification endpoint.
type WebhookOptions struct {
	// Addr to listen on, e.g. ":9292". Empty: no webhook.
	Addr string
	// SecretFile holds the HMAC-SHA256 secret (required with Addr).
	SecretFile string
}

// webhook is a manager Runnable: a signed POST triggers a pass now.
type webhook struct {
	addr     string
	secret   []byte
	triggers chan<- event.GenericEvent
}

func newWebhook(o WebhookOptions, triggers chan<- event.GenericEvent) (*webhook, error) {
	if o.SecretFile == "" {
		return nil, errors.New("agent: --webhook-bind-address needs --webhook-secret-file: unsigned calls are never accepted")
	}
	data, err := os.ReadFile(o.SecretFile)
	if err != nil {
		return nil, fmt.Errorf("agent: webhook secret: %w", err)
	}
	secret := []byte(strings.TrimSpace(string(data)))
	if len(secret) == 0 {
		return nil, fmt.Errorf("agent: webhook secret file %s is empty", o.SecretFile)
	}
	return &webhook{addr: o.Addr, secret: secret, triggers: triggers}, nil
}

// Start serves until ctx ends.
func (w *webhook) Start(ctx context.Context) error {
	ln, err := net.Listen("tcp", w.addr)
	if err != nil {
		return fmt.Errorf("webhook listen %s: %w", w.addr, err)
	}
	srv := &http.Server{Handler: WebhookHandler(w.secret, w.trigger), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// NeedLeaderElection: every replica accepts calls; the trigger is harmless
// on one that is not leading.
func (w *webhook) NeedLeaderElection() bool { return false }

func (w *webhook) trigger() {
	select {
	case w.triggers <- event.GenericEvent{Object: &v1alpha1.APIServiceBinding{}}:
	default: // a pass is already queued
	}
}

// WebhookHandler accepts a POST whose body is signed with HMAC-SHA256 of
// secret, in GitHub's X-Hub-Signature-256 header or the generic one, and
// calls trigger. Anything unsigned or wrongly signed gets 401 and is
// counted; the body is not interpreted beyond the signature: any accepted
// call means "look at the remote now".
func WebhookHandler(secret []byte, trigger func()) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			webhookCalls.WithLabelValues("bad_request").Inc()
			http.Error(rw, "POST only", http.StatusMethodNotAllowed)
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, maxWebhookBody+1))
		if err != nil || len(body) > maxWebhookBody {
			webhookCalls.WithLabelValues("bad_request").Inc()
			http.Error(rw, "body unreadable or too large", http.StatusBadRequest)
			return
		}
		sig := r.Header.Get(GitHubSignatureHeader)
		if sig == "" {
			sig = r.Header.Get(GenericSignatureHeader)
		}
		if sig == "" {
			webhookCalls.WithLabelValues("unsigned").Inc()
			http.Error(rw, "unsigned", http.StatusUnauthorized)
			return
		}
		if !validSignature(secret, body, sig) {
			webhookCalls.WithLabelValues("bad_signature").Inc()
			http.Error(rw, "bad signature", http.StatusUnauthorized)
			return
		}
		webhookCalls.WithLabelValues("accepted").Inc()
		trigger()
		rw.WriteHeader(http.StatusAccepted)
	})
}

// validSignature compares, in constant time, sig ("sha256=<hex>" or "<hex>")
// with the HMAC-SHA256 of body.
func validSignature(secret, body []byte, sig string) bool {
	got, err := hex.DecodeString(strings.TrimPrefix(strings.TrimSpace(sig), "sha256="))
	if err != nil {
		return false
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	return hmac.Equal(got, mac.Sum(nil))
}
