package gitflags

import (
	"context"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"syscall"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/bindsync/bindsync/internal/cli/exitcode"
	"github.com/bindsync/bindsync/internal/git"
)

// CodeOf is the exit code for err, an error of reaching or reading the
// state repository, the one table approve and log follow:
//
//   - an *exitcode.Error keeps its code;
//   - exitcode.Conflict: a push lost a race, the branch moved
//     (git.ErrNonFastForward);
//   - exitcode.Unusable: options that could not work (git.ErrInvalidOptions,
//     credentials in the URL);
//   - exitcode.Refused: the remote answered and said no: authentication
//     required or failed (http 401, an ssh key the server refuses),
//     authorization failed (http 403), no such repository (http 404), any
//     other http 4xx or 500, or a branch update the server declined (a hook,
//     a protected branch: git.ErrRefused);
//   - exitcode.Unreachable: no usable answer came: the connection was
//     refused, reset or timed out, the name did not resolve, TLS or the ssh
//     host key check failed, the server was busy or unavailable (http 429,
//     502, 503, 504), or any other failure of the remote (git.ErrRemote);
//   - exitcode.Problems for anything else: the repository was reached, but
//     what it holds could not be read.
func CodeOf(err error) int {
	var coded *exitcode.Error
	switch {
	case err == nil:
		return exitcode.OK
	case errors.As(err, &coded):
		return coded.Code
	case errors.Is(err, git.ErrNonFastForward):
		return exitcode.Conflict
	case errors.Is(err, git.ErrInvalidOptions), errors.Is(err, git.ErrURLCredentials):
		return exitcode.Unusable
	case anyInChain(err, refused):
		return exitcode.Refused
	case anyInChain(err, unreachable), errors.Is(err, git.ErrRemote):
		return exitcode.Unreachable
	}
	return exitcode.Problems
}

// Failed gives err, an error that already names the repository and the
// step, the exit code CodeOf chooses.
func Failed(err error) error {
	if err == nil {
		return nil
	}
	return exitcode.New(CodeOf(err), err)
}

// refused reports whether e, one error of a chain, is the remote's answer
// refusing the request.
func refused(e error) bool {
	switch e {
	case transport.ErrAuthenticationRequired, transport.ErrAuthorizationFailed, transport.ErrRepositoryNotFound, git.ErrRefused:
		return true
	}
	if he, ok := e.(*githttp.Err); ok && he.Response != nil {
		switch c := he.Response.StatusCode; {
		case c == http.StatusTooManyRequests, c == http.StatusBadGateway, c == http.StatusServiceUnavailable, c == http.StatusGatewayTimeout:
			return false
		default:
			return c >= 400
		}
	}
	// the ssh client's words for a key (or password) the server refused
	return strings.Contains(e.Error(), "ssh: unable to authenticate")
}

// unreachable reports whether e, one error of a chain, says no usable
// answer came from the remote.
func unreachable(e error) bool {
	var netErr net.Error
	var keyErr *knownhosts.KeyError
	var revoked *knownhosts.RevokedError
	var unknownCA x509.UnknownAuthorityError
	var hostname x509.HostnameError
	var invalid x509.CertificateInvalidError
	switch {
	case e == context.DeadlineExceeded, e == os.ErrDeadlineExceeded, e == io.EOF, e == io.ErrUnexpectedEOF,
		e == syscall.ECONNREFUSED, e == syscall.ECONNRESET, e == syscall.EHOSTUNREACH, e == syscall.ENETUNREACH, e == syscall.ETIMEDOUT:
		return true
	}
	if he, ok := e.(*githttp.Err); ok && he.Response != nil {
		return !refused(e)
	}
	for _, target := range []any{&netErr, &keyErr, &revoked, &unknownCA, &hostname, &invalid} {
		if errors.As(e, target) {
			return true
		}
	}
	return strings.HasPrefix(e.Error(), "ssh: handshake failed")
}

// anyInChain reports whether is holds for err or any error it wraps,
// including go-git's wrappers that do not implement Unwrap.
func anyInChain(err error, is func(error) bool) bool {
	if err == nil {
		return false
	}
	if is(err) {
		return true
	}
	switch e := err.(type) {
	case *plumbing.UnexpectedError:
		return anyInChain(e.Err, is)
	case *plumbing.PermanentError:
		return anyInChain(e.Err, is)
	case interface{ Unwrap() []error }:
		for _, w := range e.Unwrap() {
			if anyInChain(w, is) {
				return true
			}
		}
		return false
	}
	return anyInChain(errors.Unwrap(err), is)
}
