package agent

import (
	"context"
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

// The generic form's signature headers: GitHub's, "sha256=<hex>", and
// bindsync's, holding the hex HMAC alone (or also with the sha256= prefix).
// The forges' own headers are in forges.go.
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
	// Branch is the branch the agent follows: a forge's push that names
	// other refs only does not trigger a pass. Empty: any push triggers.
	Branch string
}

// webhook is a manager Runnable: a signed POST triggers a pass now.
type webhook struct {
	addr       string
	secretFile string
	branch     string
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
	return &webhook{addr: o.Addr, secretFile: o.SecretFile, branch: o.Branch, triggers: triggers,
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
		Handler:           webhookHandler(secret, w.branch, w.trigger),
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

// webhookHandler accepts a POST signed with the secret (read on each call),
// in the form of the forge that sent it (GitHub, GitLab, Gitea and Forgejo,
// Bitbucket Cloud, Bitbucket Server and Data Center) or bindsync's generic
// form, and calls trigger. Anything unsigned or wrongly signed gets 401 and is counted. A forge's
// push that names its refs triggers only when one is refs/heads/<branch>
// (any branch when branch is empty); other events of a forge (a ping) are
// answered 200 and trigger nothing. A generic call's body is not
// interpreted: it means "look at the remote now".
func webhookHandler(secret func() ([]byte, error), branch string, trigger func()) http.Handler {
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
		key, err := secret()
		if err != nil {
			webhookCalls.WithLabelValues("bad_request").Inc()
			ctrl.Log.WithName("webhook").Error(err, "webhook secret unreadable: every call is refused")
			http.Error(rw, "webhook secret unavailable", http.StatusServiceUnavailable)
			return
		}
		d, err := verify(r, body, key)
		switch {
		case errors.Is(err, errUnsigned):
			webhookCalls.WithLabelValues("unsigned").Inc()
			http.Error(rw, "unsigned "+d.forge+" call", http.StatusUnauthorized)
		case errors.Is(err, errBadSignature):
			webhookCalls.WithLabelValues("bad_signature").Inc()
			http.Error(rw, "bad signature for a "+d.forge+" call", http.StatusUnauthorized)
		case errors.Is(err, errNotPush):
			webhookCalls.WithLabelValues("ignored").Inc()
			fmt.Fprintf(rw, "%s event ignored: only a push triggers a pass\n", d.forge)
		case err != nil:
			webhookCalls.WithLabelValues("bad_request").Inc()
			http.Error(rw, fmt.Sprintf("%s call: %v", d.forge, err), http.StatusBadRequest)
		case !d.followed(branch):
			webhookCalls.WithLabelValues("ignored").Inc()
			fmt.Fprintf(rw, "%s push to %s ignored: the agent follows refs/heads/%s\n", d.forge, strings.Join(d.refs, ", "), branch)
		default:
			webhookCalls.WithLabelValues("accepted").Inc()
			trigger()
			rw.WriteHeader(http.StatusAccepted)
		}
	})
}
