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

	ctrl "sigs.k8s.io/controller-runtime"
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

// Limits of the webhook's HTTP server: a caller that sends its headers or
// body slowly, or keeps a connection open, holds a goroutine and a socket,
// so every phase of a call has a deadline.
const (
	webhookReadHeaderTimeout = 5 * time.Second
	webhookReadTimeout       = 15 * time.Second
	webhookWriteTimeout      = 15 * time.Second
	webhookIdleTimeout       = 60 * time.Second
	webhookMaxHeaderBytes    = 16 << 10
)

// WebhookOptions configure the push-notification endpoint.
type WebhookOptions struct {
	// Addr to listen on, e.g. ":9292". Empty: no webhook.
	Addr string
	// SecretFile holds the HMAC-SHA256 secret (required with Addr). It is
	// read on every call, so a rotated secret takes effect without a
	// restart.
	SecretFile string
}

// webhook is a manager Runnable: a signed POST triggers a pass now.
type webhook struct {
	addr       string
	secretFile string
	triggers   chan<- event.GenericEvent
	// server's timeouts and limits; tests shorten them.
	readHeaderTimeout, readTimeout, writeTimeout, idleTimeout time.Duration
	// ready, when set, receives the listening address.
	ready chan<- net.Addr
}

func newWebhook(o WebhookOptions, triggers chan<- event.GenericEvent) (*webhook, error) {
	if o.SecretFile == "" {
		return nil, errors.New("agent: --webhook-bind-address needs --webhook-secret-file: unsigned calls are never accepted")
	}
	if _, err := readWebhookSecret(o.SecretFile); err != nil {
		return nil, fmt.Errorf("agent: %w", err)
	}
	return &webhook{addr: o.Addr, secretFile: o.SecretFile, triggers: triggers,
		readHeaderTimeout: webhookReadHeaderTimeout, readTimeout: webhookReadTimeout,
		writeTimeout: webhookWriteTimeout, idleTimeout: webhookIdleTimeout}, nil
}

// readWebhookSecret reads the secret file; an empty one is an error.
func readWebhookSecret(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("webhook secret: %w", err)
	}
	secret := []byte(strings.TrimSpace(string(data)))
	if len(secret) == 0 {
		return nil, fmt.Errorf("webhook secret file %s is empty", path)
	}
	return secret, nil
}

// Start serves until ctx ends.
func (w *webhook) Start(ctx context.Context) error {
	ln, err := net.Listen("tcp", w.addr)
	if err != nil {
		return fmt.Errorf("webhook listen %s: %w", w.addr, err)
	}
	if w.ready != nil {
		w.ready <- ln.Addr()
	}
	secret := func() ([]byte, error) { return readWebhookSecret(w.secretFile) }
	srv := &http.Server{
		Handler:           webhookHandler(secret, w.trigger),
		ReadHeaderTimeout: w.readHeaderTimeout,
		ReadTimeout:       w.readTimeout,
		WriteTimeout:      w.writeTimeout,
		IdleTimeout:       w.idleTimeout,
		MaxHeaderBytes:    webhookMaxHeaderBytes,
	}
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
	return webhookHandler(func() ([]byte, error) { return secret, nil }, trigger)
}

// webhookHandler is WebhookHandler with the secret read on each call.
func webhookHandler(secret func() ([]byte, error), trigger func()) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			webhookCalls.WithLabelValues("bad_request").Inc()
			http.Error(rw, "POST only", http.StatusMethodNotAllowed)
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(rw, r.Body, maxWebhookBody))
		if err != nil {
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
		key, err := secret()
		if err != nil {
			webhookCalls.WithLabelValues("bad_request").Inc()
			ctrl.Log.WithName("webhook").Error(err, "webhook secret unreadable: every call is refused")
			http.Error(rw, "webhook secret unavailable", http.StatusServiceUnavailable)
			return
		}
		if !validSignature(key, body, sig) {
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
