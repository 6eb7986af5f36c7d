package agent

import "net/http"

// WebhookHandler is the webhook receiver with a fixed secret, for tests.
func WebhookHandler(secret []byte, branch string, trigger func()) http.Handler {
	return webhookHandler(func() ([]byte, error) { return secret, nil }, branch, trigger)
}
