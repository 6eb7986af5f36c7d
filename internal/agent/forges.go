package agent

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/go-playground/webhooks/v6/bitbucket"
	bitbucketserver "github.com/go-playground/webhooks/v6/bitbucket-server"
	"github.com/go-playground/webhooks/v6/gitea"
	"github.com/go-playground/webhooks/v6/github"
	"github.com/go-playground/webhooks/v6/gitlab"
)

// The headers that tell a forge's delivery apart. Gitea and Forgejo also send
// X-GitHub-Event, so they are recognised first.
const (
	GitHubEventHeader        = "X-GitHub-Event"
	GitLabEventHeader        = "X-Gitlab-Event"
	GitLabTokenHeader        = "X-Gitlab-Token"
	GiteaEventHeader         = "X-Gitea-Event"
	GiteaSignatureHeader     = "X-Gitea-Signature"
	BitbucketEventHeader     = "X-Event-Key"
	BitbucketSignatureHeader = "X-Hub-Signature"
	// BitbucketCloudHookHeader is sent by Bitbucket Cloud only (Bitbucket
	// Server and Data Center send X-Request-Id).
	BitbucketCloudHookHeader = "X-Hook-UUID"
)

// Forges the webhook recognises, as counted and logged.
const (
	forgeGeneric        = "generic"
	forgeGitHub         = "github"
	forgeGitLab         = "gitlab"
	forgeGitea          = "gitea"
	forgeBitbucketCloud = "bitbucket-cloud"
	forgeBitbucketDC    = "bitbucket-server"
)

// Why a delivery is not accepted; webhookHandler maps each to an answer.
var (
	errUnsigned     = errors.New("unsigned")
	errBadSignature = errors.New("bad signature")
	errBadPayload   = errors.New("payload not understood")
	errNotPush      = errors.New("not a push")
)

// delivery is what a verified call says: the refs a push moved, when the
// forge's payload names them (nil for the generic form, whose body is not
// interpreted).
type delivery struct {
	forge string
	refs  []string
}

// forgeOf names the forge that sent r, from the headers only that forge sends.
func forgeOf(h http.Header) string {
	switch {
	case h.Get(GiteaEventHeader) != "":
		return forgeGitea
	case h.Get(GitLabEventHeader) != "":
		return forgeGitLab
	case h.Get(BitbucketEventHeader) != "" && h.Get(BitbucketCloudHookHeader) != "":
		return forgeBitbucketCloud
	case h.Get(BitbucketEventHeader) != "":
		return forgeBitbucketDC
	case h.Get(GitHubEventHeader) != "":
		return forgeGitHub
	}
	return forgeGeneric
}

// verify checks the signature of a call in its forge's form and reads the
// refs its push moved. The forges' formats (headers, signatures, payloads)
// are go-playground/webhooks'; Bitbucket Cloud's HMAC signature, which that
// library does not check, and bindsync's generic form are checked here.
func verify(r *http.Request, body []byte, secret []byte) (delivery, error) {
	forge := forgeOf(r.Header)
	d := delivery{forge: forge}
	// The library reads the body itself: give it the one already read.
	r.Body = io.NopCloser(bytes.NewReader(body))
	var err error
	switch forge {
	case forgeGitHub:
		d.refs, err = githubRefs(r, secret)
	case forgeGitLab:
		d.refs, err = gitlabRefs(r, secret)
	case forgeGitea:
		d.refs, err = giteaRefs(r, secret)
	case forgeBitbucketCloud:
		d.refs, err = bitbucketCloudRefs(r, body, secret)
	case forgeBitbucketDC:
		d.refs, err = bitbucketServerRefs(r, secret)
	default:
		err = verifyGeneric(r.Header, body, secret)
	}
	return d, err
}

func githubRefs(r *http.Request, secret []byte) ([]string, error) {
	if r.Header.Get(GitHubSignatureHeader) == "" {
		return nil, errUnsigned
	}
	hook, err := github.New(github.Options.Secret(string(secret)))
	if err != nil {
		return nil, err
	}
	p, err := hook.Parse(r, github.PushEvent, github.PingEvent)
	if err != nil {
		return nil, libError(err)
	}
	push, ok := p.(github.PushPayload)
	if !ok {
		return nil, errNotPush // ping: signed, nothing to do
	}
	return []string{push.Ref}, nil
}

func gitlabRefs(r *http.Request, secret []byte) ([]string, error) {
	if r.Header.Get(GitLabTokenHeader) == "" {
		return nil, errUnsigned
	}
	hook, err := gitlab.New(gitlab.Options.Secret(string(secret)))
	if err != nil {
		return nil, err
	}
	p, err := hook.Parse(r, gitlab.PushEvents)
	if err != nil {
		return nil, libError(err)
	}
	push, ok := p.(gitlab.PushEventPayload)
	if !ok {
		return nil, errNotPush
	}
	return []string{push.Ref}, nil
}

func giteaRefs(r *http.Request, secret []byte) ([]string, error) {
	if r.Header.Get(GiteaSignatureHeader) == "" {
		return nil, errUnsigned
	}
	hook, err := gitea.New(gitea.Options.Secret(string(secret)))
	if err != nil {
		return nil, err
	}
	p, err := hook.Parse(r, gitea.PushEvent)
	if err != nil {
		return nil, libError(err)
	}
	push, ok := p.(gitea.PushPayload)
	if !ok {
		return nil, errNotPush
	}
	return []string{push.Ref}, nil
}

// bitbucketCloudRefs checks Bitbucket Cloud's X-Hub-Signature (sha256=<hex>
// HMAC of the body, as Bitbucket Server signs) and reads the branches of a
// repo:push. The library's Bitbucket Cloud hook knows only the older,
// unsigned hook UUID, so the signature is checked here.
func bitbucketCloudRefs(r *http.Request, body, secret []byte) ([]string, error) {
	sig := r.Header.Get(BitbucketSignatureHeader)
	if sig == "" {
		return nil, errUnsigned
	}
	if !strings.HasPrefix(sig, "sha256=") || !validSignature(secret, body, sig) {
		return nil, errBadSignature
	}
	hook, err := bitbucket.New()
	if err != nil {
		return nil, err
	}
	p, err := hook.Parse(r, bitbucket.RepoPushEvent)
	if err != nil {
		return nil, libError(err)
	}
	push, ok := p.(bitbucket.RepoPushPayload)
	if !ok {
		return nil, errNotPush
	}
	var refs []string
	for _, c := range push.Push.Changes {
		if c.New.Type == "branch" && c.New.Name != "" { // a deleted branch has no new side
			refs = append(refs, "refs/heads/"+c.New.Name)
		}
	}
	return refs, nil
}

func bitbucketServerRefs(r *http.Request, secret []byte) ([]string, error) {
	sig := r.Header.Get(BitbucketSignatureHeader)
	if sig == "" {
		return nil, errUnsigned
	}
	if !strings.HasPrefix(sig, "sha256=") {
		return nil, errBadSignature // the library slices the prefix off unchecked
	}
	hook, err := bitbucketserver.New(bitbucketserver.Options.Secret(string(secret)))
	if err != nil {
		return nil, err
	}
	p, err := hook.Parse(r, bitbucketserver.RepositoryReferenceChangedEvent, bitbucketserver.DiagnosticsPingEvent)
	if err != nil {
		return nil, libError(err)
	}
	push, ok := p.(bitbucketserver.RepositoryReferenceChangedPayload)
	if !ok {
		return nil, errNotPush // diagnostics:ping
	}
	var refs []string
	for _, c := range push.Changes {
		refs = append(refs, c.ReferenceID)
	}
	return refs, nil
}

// verifyGeneric checks bindsync's own form: the HMAC-SHA256 of the body in
// X-Hub-Signature-256 ("sha256=<hex>") or X-Bindsync-Signature ("<hex>").
func verifyGeneric(h http.Header, body, secret []byte) error {
	sig := h.Get(GitHubSignatureHeader)
	if sig == "" {
		sig = h.Get(GenericSignatureHeader)
	}
	if sig == "" {
		return errUnsigned
	}
	if !validSignature(secret, body, sig) {
		return errBadSignature
	}
	return nil
}

// libError sorts the library's errors into the webhook's: a signature or
// token that does not match, an event that is not a push, or a payload that
// is not the forge's.
func libError(err error) error {
	switch {
	case errors.Is(err, github.ErrHMACVerificationFailed), errors.Is(err, gitea.ErrHMACVerificationFailed),
		errors.Is(err, bitbucketserver.ErrHMACVerificationFailed), errors.Is(err, gitlab.ErrGitLabTokenVerificationFailed):
		return errBadSignature
	case errors.Is(err, github.ErrMissingHubSignatureHeader), errors.Is(err, gitea.ErrMissingGiteaSignatureHeader),
		errors.Is(err, bitbucketserver.ErrMissingHubSignatureHeader):
		return errUnsigned
	case errors.Is(err, github.ErrEventNotFound), errors.Is(err, gitlab.ErrEventNotFound), errors.Is(err, gitea.ErrEventNotFound),
		errors.Is(err, bitbucket.ErrEventNotFound), errors.Is(err, bitbucketserver.ErrEventNotFound):
		return errNotPush
	}
	return fmt.Errorf("%w: %w", errBadPayload, err)
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

// followed says whether a delivery concerns branch: true when the payload
// is of the generic form (whose body is not read), or its push moved
// refs/heads/<branch>, or when no branch is set.
func (d delivery) followed(branch string) bool {
	if branch == "" || d.forge == forgeGeneric {
		return true
	}
	for _, ref := range d.refs {
		if ref == "refs/heads/"+branch {
			return true
		}
	}
	return false
}
