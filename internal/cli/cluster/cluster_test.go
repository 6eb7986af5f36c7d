package cluster

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	_ "github.com/bindsync/bindsync/internal/testutil/golden" // accepts -update like every test package
)

func TestKubeconfigIsTheServiceAccountsInItsNamespace(t *testing.T) {
	caFile := filepath.Join(t.TempDir(), "ca.crt")
	require.NoError(t, os.WriteFile(caFile, []byte("CA FROM FILE"), 0o600))
	for name, tc := range map[string]struct {
		cp     *rest.Config
		wantCA string
	}{
		"CA data":            {cp: &rest.Config{Host: "https://cp:6443", TLSClientConfig: rest.TLSClientConfig{CAData: []byte("CA DATA")}}, wantCA: "CA DATA"},
		"CA file is inlined": {cp: &rest.Config{Host: "https://cp:6443", TLSClientConfig: rest.TLSClientConfig{CAFile: caFile}}, wantCA: "CA FROM FILE"},
	} {
		t.Run(name, func(t *testing.T) {
			kc, err := Kubeconfig(tc.cp, "team-a", "TOKEN")
			require.NoError(t, err)
			data, err := clientcmd.Write(*kc)
			require.NoError(t, err)
			back, err := clientcmd.Load(data)
			require.NoError(t, err)
			c := back.Contexts[back.CurrentContext]
			require.NotNil(t, c)
			assert.Equal(t, "bindsync-team-a", c.Namespace)
			assert.Equal(t, "TOKEN", back.AuthInfos[c.AuthInfo].Token)
			assert.Equal(t, "https://cp:6443", back.Clusters[c.Cluster].Server)
			assert.Equal(t, tc.wantCA, string(back.Clusters[c.Cluster].CertificateAuthorityData))
			assert.Empty(t, back.AuthInfos[c.AuthInfo].ClientCertificateData, "no operator credentials travel")
		})
	}
}

func TestWritePrivateNarrowsAnExistingFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "kc")
	require.NoError(t, os.WriteFile(p, []byte("old and longer content"), 0o644))
	require.NoError(t, writePrivate(p, []byte("new")))
	info, err := os.Stat(p)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), info.Mode().Perm())
	data, err := os.ReadFile(p)
	require.NoError(t, err)
	assert.Equal(t, "new", string(data))
}

func TestValidate(t *testing.T) {
	ok := addFlags{tokenTTL: DefaultTokenTTL, timeout: DefaultTimeout}
	for name, tc := range map[string]struct {
		cluster string
		f       addFlags
		want    string
	}{
		"a DNS label": {cluster: "team-a", f: ok},
		"upper case":  {cluster: "Team", f: ok, want: "cluster name"},
		"too long":    {cluster: "a123456789012345678901234567890123456789012345678901234", f: ok, want: "longer than 54"},
		"short token": {cluster: "a", f: addFlags{tokenTTL: 60e9, timeout: DefaultTimeout}, want: "--token-ttl"},
		"no timeout":  {cluster: "a", f: addFlags{tokenTTL: DefaultTokenTTL}, want: "--timeout"},
	} {
		t.Run(name, func(t *testing.T) {
			err := validate(tc.cluster, &tc.f)
			if tc.want == "" {
				assert.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}
