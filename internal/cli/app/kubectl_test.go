package app_test

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bindsync/bindsync/internal/cli/exitcode"
)

// TestClusterCommandsTakeKubectlsConnectionFlags: the commands that talk to
// clusters take kubectl's connection flags for the cluster they act on, and
// bind and unbind name the control plane with --control-plane-*.
func TestClusterCommandsTakeKubectlsConnectionFlags(t *testing.T) {
	kubectl := []string{"--kubeconfig", "--context", "--as", "--as-group", "--request-timeout", "--server", "--token", "--certificate-authority", "--insecure-skip-tls-verify"}
	for _, words := range [][]string{{"cluster", "add"}, {"status"}, {"bind"}, {"unbind"}} {
		t.Run(strings.Join(words, " "), func(t *testing.T) {
			code, stdout, _ := runAs("bindsync", append(words, "--help")...)
			require.Equal(t, 0, code)
			for _, flag := range kubectl {
				assert.Contains(t, stdout, flag+" ", "kubectl's %s", flag)
			}
			if words[0] == "bind" || words[0] == "unbind" {
				assert.Contains(t, stdout, "--control-plane-kubeconfig")
				assert.Contains(t, stdout, "--control-plane-context")
				assert.Contains(t, stdout, "-n, --namespace", "-n: the request's namespace on the control plane")
			}
		})
	}
}

// TestOutputFlagsAreCheckedBeforeAnyCluster: each command knows its -o
// values, and cluster add tells a format from a file.
func TestOutputFlagsAreCheckedBeforeAnyCluster(t *testing.T) {
	for name, tc := range map[string]struct {
		args []string
		want string
	}{
		"cluster add prints no table":                         {[]string{"cluster", "add", "a", "-o", "wide"}, "-o wide: cluster add prints a kubeconfig"},
		"cluster add -o FILE and --output-file clash":         {[]string{"cluster", "add", "a", "-o", "a.kc", "--output-file", "b.kc"}, "give the file once"},
		"cluster add -o name needs a file for the kubeconfig": {[]string{"cluster", "add", "a", "-o", "name"}, "give --output-file FILE"},
		"unbind prints names only":                            {[]string{"unbind", "pg", "-o", "json"}, "use name"},
		"log prints commits, not objects":                     {[]string{"log", "--repo", ".", "-o", "name"}, "use json or yaml"},
	} {
		t.Run(name, func(t *testing.T) {
			code, stdout, stderr := runAs("bindsync", tc.args...)
			assert.Equal(t, exitcode.Unusable, code)
			assert.Empty(t, stdout)
			assert.Contains(t, stderr, tc.want)
		})
	}
}

// TestAnUnreachableClusterExits9: a kubeconfig whose server refuses
// connections is no bad usage: every command exits Unreachable (9) and
// names what it tried, quickly.
func TestAnUnreachableClusterExits9(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close()) // nothing listens there now
	kc := filepath.Join(t.TempDir(), "kubeconfig")
	require.NoError(t, os.WriteFile(kc, fmt.Appendf(nil, `apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://%s", insecure-skip-tls-verify: true}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: c, context: {cluster: c, user: u, namespace: bindsync-team-a}}]
current-context: c
`, addr), 0o600))
	for name, tc := range map[string]struct {
		args []string
		want string
	}{
		"cluster add": {[]string{"cluster", "add", "team-a", "--kubeconfig", kc}, "create AppCluster team-a"},
		"status":      {[]string{"status", "--kubeconfig", kc}, "list APIServiceExports"},
		"bind":        {[]string{"bind", "pg", "--kubeconfig", kc, "--control-plane-kubeconfig", kc}, "APIServiceExportRequest bindsync-team-a/pg"},
		"unbind":      {[]string{"unbind", "pg", "--kubeconfig", kc, "--control-plane-kubeconfig", kc}, "read APIServiceExportRequest bindsync-team-a/pg"},
	} {
		t.Run(name, func(t *testing.T) {
			begin := time.Now()
			code, _, stderr := runAs("bindsync", append(tc.args, "--request-timeout", "5s")...)
			assert.Equal(t, exitcode.Unreachable, code, stderr)
			assert.Contains(t, stderr, tc.want)
			assert.Contains(t, stderr, addr)
			assert.Less(t, time.Since(begin), 10*time.Second, "an unreachable cluster is no reason to wait out --timeout")
		})
	}
}

// TestRequestTimeoutBoundsEachRequest: kubectl's --request-timeout reaches
// the clients: a server that accepts connections and never answers ends
// the command after that long with exit 9, for the cluster a command acts
// on and for bind's control plane alike.
func TestRequestTimeoutBoundsEachRequest(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = l.Close() })
	go func() {
		var held []net.Conn // accepted, never answered
		for {
			c, err := l.Accept()
			if err != nil {
				for _, c := range held {
					_ = c.Close()
				}
				return
			}
			held = append(held, c)
		}
	}()
	kc := filepath.Join(t.TempDir(), "kubeconfig")
	require.NoError(t, os.WriteFile(kc, fmt.Appendf(nil, `apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://%s", insecure-skip-tls-verify: true}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: c, context: {cluster: c, user: u, namespace: bindsync-team-a}}]
current-context: c
`, l.Addr()), 0o600))
	for name, args := range map[string][]string{
		"status":               {"status", "--kubeconfig", kc},
		"bind's control plane": {"bind", "pg", "--kubeconfig", kc, "--control-plane-kubeconfig", kc, "--timeout", "2m"},
	} {
		t.Run(name, func(t *testing.T) {
			begin := time.Now()
			code, _, stderr := runAs("bindsync", append(args, "--request-timeout", "1s")...)
			took := time.Since(begin)
			assert.Equal(t, exitcode.Unreachable, code, stderr)
			assert.GreaterOrEqual(t, took, time.Second)
			assert.Less(t, took, 5*time.Second, "ends after --request-timeout")
		})
	}
}
