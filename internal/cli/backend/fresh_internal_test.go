package backend

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/go-logr/logr/funcr"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bindsync/bindsync/internal/testenv"
)

// TestLeaderElectionOnAFreshAPIServer: on a real API server without the
// lease namespace, the backend creates it when it may and elects; when it
// may not, outside a cluster it runs without election. Each case is said in
// one log line. An API server refusal is proven by impersonating a user
// who may read namespaces but not create them.
func TestLeaderElectionOnAFreshAPIServer(t *testing.T) {
	t.Setenv("KUBERNETES_SERVICE_HOST", "") // outside a cluster, whatever runs the test
	cp := testenv.Start(t, "lease")
	ctx := context.Background()
	const viewer = "namespace-viewer"
	require.NoError(t, cp.Client.Create(ctx, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: viewer},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"namespaces"}, Verbs: []string{"get"}}}}))
	require.NoError(t, cp.Client.Create(ctx, &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: viewer},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: viewer},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: viewer}}}))

	cases := []struct {
		name, namespace, user string
		leaderElect           bool
		wantElect, created    bool
		wantLog               string
	}{
		{name: "the namespace is created", namespace: "bindsync-system", leaderElect: true,
			wantElect: true, created: true, wantLog: "leader election on: namespace bindsync-system did not exist and was created"},
		{name: "an existing namespace is used", namespace: "bindsync-system", leaderElect: true,
			wantElect: true, created: true, wantLog: "leader election on: lease bindsync-system/bindsync-backend"},
		{name: "a user who may not create it runs without election", namespace: "bindsync-lease", user: viewer, leaderElect: true,
			wantElect: false, wantLog: "leader election off: namespace bindsync-lease does not exist and cannot be created"},
		{name: "--leader-elect=false says so", namespace: "bindsync-other", leaderElect: false,
			wantElect: false, wantLog: "leader election off (--leader-elect=false)"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var mu sync.Mutex
			var lines []string
			log := funcr.New(func(prefix, args string) {
				mu.Lock()
				defer mu.Unlock()
				lines = append(lines, fmt.Sprint(prefix, args))
			}, funcr.Options{})
			cfg := cp.Config
			if tc.user != "" {
				cfg = cp.ImpersonateConfig(tc.user)
			}
			f := &flags{leaderElect: tc.leaderElect, leaderNamespace: tc.namespace, leaderID: "bindsync-backend"}
			elect, err := f.prepareLeaderElection(ctx, cfg, log)
			require.NoError(t, err)
			assert.Equal(t, tc.wantElect, elect)
			require.Len(t, lines, 1, "one log line: %v", lines)
			assert.Contains(t, lines[0], tc.wantLog)
			assert.False(t, strings.Contains(lines[0], "goroutine"), "no stack trace")
			err = cp.Client.Get(ctx, client.ObjectKey{Name: tc.namespace}, &corev1.Namespace{})
			if tc.created {
				assert.NoError(t, err)
			} else {
				assert.True(t, apierrors.IsNotFound(err), "%v", err)
			}
		})
	}
}
