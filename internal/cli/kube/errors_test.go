package kube

import (
	"errors"
	"fmt"
	"net/url"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/bindsync/bindsync/internal/cli/exitcode"
)

func TestCodeOfAnAPIError(t *testing.T) {
	gr := schema.GroupResource{Group: "bindsync.io", Resource: "appclusters"}
	for name, tc := range map[string]struct {
		err  error
		want int
	}{
		"forbidden":                        {apierrors.NewForbidden(gr, "a", errors.New("no")), exitcode.Refused},
		"unauthorized":                     {apierrors.NewUnauthorized("token expired"), exitcode.Refused},
		"invalid":                          {apierrors.NewBadRequest("bad"), exitcode.Refused},
		"an internal error":                {apierrors.NewInternalError(errors.New("etcd")), exitcode.Refused},
		"a kind the server does not serve": {&meta.NoKindMatchError{GroupKind: schema.GroupKind{Group: "bindsync.io", Kind: "AppCluster"}}, exitcode.Refused},
		"unavailable":                      {apierrors.NewServiceUnavailable("starting"), exitcode.Unreachable},
		"too many requests":                {apierrors.NewTooManyRequests("busy", 1), exitcode.Unreachable},
		"a server timeout":                 {apierrors.NewServerTimeout(gr, "get", 1), exitcode.Unreachable},
		"connection refused": {&url.Error{Op: "Get", URL: "https://127.0.0.1:1/api",
			Err: syscall.ECONNREFUSED}, exitcode.Unreachable},
	} {
		t.Run(name, func(t *testing.T) {
			wrapped := fmt.Errorf("create AppCluster a: %w", tc.err)
			assert.Equal(t, tc.want, CodeOf(wrapped))
			var coded *exitcode.Error
			assert.ErrorAs(t, Failed(wrapped), &coded)
			assert.Equal(t, tc.want, coded.Code)
			assert.Equal(t, wrapped.Error(), Failed(wrapped).Error(), "the message is kept")
		})
	}
}
