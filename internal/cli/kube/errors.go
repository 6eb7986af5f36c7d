package kube

import (
	"errors"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"

	"github.com/bindsync/bindsync/internal/cli/exitcode"
)

// CodeOf is the exit code for err, an error of a call to an API server:
// exitcode.Refused when the server answered with an error status
// (forbidden, unauthorized, invalid, not found, a conflict, an internal
// error, a kind it does not serve); exitcode.Unreachable when no usable answer came: the connection
// was refused or reset, the name did not resolve, TLS failed, the request
// outlived --request-timeout, or the server said it is too busy or
// unavailable. Errors of the way to the server (a proxy, a credential
// plugin) count as unreachable too.
func CodeOf(err error) int {
	var status apierrors.APIStatus
	switch {
	case apierrors.IsServerTimeout(err), apierrors.IsTimeout(err), apierrors.IsServiceUnavailable(err),
		apierrors.IsTooManyRequests(err):
		return exitcode.Unreachable
	case errors.As(err, &status), meta.IsNoMatchError(err): // no match: the server does not serve the kind

		return exitcode.Refused
	}
	return exitcode.Unreachable
}

// Failed gives err, an error of a call to an API server that already names
// the object and the step, the exit code CodeOf chooses.
func Failed(err error) error {
	return exitcode.New(CodeOf(err), err)
}
