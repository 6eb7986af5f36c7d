package backend

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// defaultDataDir is --data-dir when the flag is not given. With --repo the
// folder is only a cache of the remote, so it lives in the user's cache
// folder, one per repository URL: $XDG_CACHE_HOME/bindsync/<hash>. Without
// --repo it holds the state repository itself, which is data, not cache:
// $XDG_DATA_HOME/bindsync/state.git (~/.local/share/...). Where that folder
// cannot be made (no home, a read-only root) it falls back to
// $TMPDIR/bindsync-<uid>/. The Deployment in config/backend gives
// --data-dir, an emptyDir.
func defaultDataDir(repo string) (string, error) {
	var base, leaf string
	if repo != "" {
		sum := sha256.Sum256([]byte(repo))
		leaf = hex.EncodeToString(sum[:8])
		base, _ = os.UserCacheDir()
	} else {
		leaf = "state.git"
		base = os.Getenv("XDG_DATA_HOME")
		if base == "" {
			if home, err := os.UserHomeDir(); err == nil {
				base = filepath.Join(home, ".local", "share")
			}
		}
	}
	if base != "" {
		dir := filepath.Join(base, "bindsync", leaf)
		if err := os.MkdirAll(filepath.Dir(dir), 0o700); err == nil {
			return dir, nil
		}
	}
	dir := filepath.Join(os.TempDir(), fmt.Sprintf("bindsync-%d", os.Getuid()), leaf)
	if err := os.MkdirAll(filepath.Dir(dir), 0o700); err != nil {
		return "", fmt.Errorf("no --data-dir given, and neither the user's cache or data folder nor %s can be created: give --data-dir: %w", filepath.Dir(dir), err)
	}
	return dir, nil
}

// inCluster says whether the process runs in a pod (the in-cluster
// configuration is there).
func inCluster() bool {
	_, err := rest.InClusterConfig()
	return err == nil
}

// prepareLeaderElection makes sure the lease has a namespace to live in
// and says in one log line how the lease is handled. A namespace that is
// missing is created (a fresh control plane has no bindsync-system). When
// it cannot be created, a backend outside a cluster (an operator's or a
// CI machine, where one process is the norm) runs without election; one in
// a cluster, where replicas may run side by side, stops with the reason.
// It returns whether the manager elects a leader.
func (f *flags) prepareLeaderElection(ctx context.Context, cfg *rest.Config, log logr.Logger) (bool, error) {
	if !f.leaderElect {
		log.Info("leader election off (--leader-elect=false): run one backend per state repository")
		return false, nil
	}
	lease := f.leaderNamespace + "/" + f.leaderID
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return false, fmt.Errorf("leader election: client: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	_, err = cs.CoreV1().Namespaces().Get(ctx, f.leaderNamespace, metav1.GetOptions{})
	switch {
	case err == nil:
		log.Info("leader election on: lease "+lease, "namespace", f.leaderNamespace)
		return true, nil
	case !apierrors.IsNotFound(err):
		// Not allowed to look, or the API server is away for now: the
		// election itself retries and reports.
		log.Info("leader election on: lease "+lease+" (its namespace could not be checked)", "namespace", f.leaderNamespace, "error", err.Error())
		return true, nil
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: f.leaderNamespace,
		Labels: map[string]string{"app.kubernetes.io/part-of": "bindsync"}}}
	_, err = cs.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{})
	if err == nil || apierrors.IsAlreadyExists(err) {
		log.Info("leader election on: namespace "+f.leaderNamespace+" did not exist and was created for lease "+lease, "namespace", f.leaderNamespace)
		return true, nil
	}
	if inCluster() {
		return false, fmt.Errorf("leader election: namespace %s of lease %s does not exist and cannot be created (%w): create it, or set --leader-election-namespace to the pod's namespace", f.leaderNamespace, lease, err)
	}
	log.Info("leader election off: namespace "+f.leaderNamespace+" does not exist and cannot be created, and this process runs outside a cluster: run one backend per state repository", "namespace", f.leaderNamespace, "error", err.Error())
	return false, nil
}
