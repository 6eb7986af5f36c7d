package app_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"

	"github.com/bindsync/bindsync/internal/testenv"
)

// TestCompletionAnswersForThePlugin: kubectl completes `kubectl bindsync`
// by running kubectl_complete-bindsync ARGS; the script hands ARGS to the
// bindsync beside it as `__complete ARGS`, and bindsync answers with its
// commands and flags.
func TestCompletionAnswersForThePlugin(t *testing.T) {
	code, stdout, _ := runAs("kubectl-bindsync", "__complete", "bind", "--control-plane-")
	require.Equal(t, 0, code)
	assert.Contains(t, stdout, "--control-plane-kubeconfig")
	assert.Contains(t, stdout, "--control-plane-context")
	code, stdout, _ = runAs("kubectl-bindsync", "__complete", "")
	require.Equal(t, 0, code)
	for _, word := range []string{"bind", "cluster", "status", "unbind"} {
		assert.Contains(t, stdout, "\n"+word+"\t", word)
	}

	if runtime.GOOS == "windows" {
		return // the script is for sh
	}
	root, err := testenv.ModuleRoot()
	require.NoError(t, err)
	script, err := os.ReadFile(filepath.Join(root, "hack", "kubectl_complete-bindsync"))
	require.NoError(t, err)
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "kubectl_complete-bindsync"), script, 0o755))
	// A stand-in for the plugin binary beside it: it prints its arguments.
	require.NoError(t, os.WriteFile(filepath.Join(dir, "kubectl-bindsync"), []byte("#!/bin/sh\necho \"$@\"\n"), 0o755))
	out, err := exec.Command(filepath.Join(dir, "kubectl_complete-bindsync"), "bind", "--kube").CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.Equal(t, "__complete bind --kube\n", string(out))

	makefile, err := os.ReadFile(filepath.Join(root, "Makefile"))
	require.NoError(t, err)
	assert.Contains(t, string(makefile), "hack/kubectl_complete-bindsync $(BIN)/kubectl_complete-bindsync", "make build installs it")
}

// krewPlugin is the part of krew's Plugin manifest bindsync fills.
type krewPlugin struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name string `json:"name"`
	} `json:"metadata"`
	Spec struct {
		Version          string `json:"version"`
		Homepage         string `json:"homepage"`
		ShortDescription string `json:"shortDescription"`
		Description      string `json:"description"`
		Platforms        []struct {
			Selector struct {
				MatchLabels map[string]string `json:"matchLabels"`
			} `json:"selector"`
			URI    string `json:"uri"`
			SHA256 string `json:"sha256"`
			Bin    string `json:"bin"`
			Files  []struct {
				From string `json:"from"`
				To   string `json:"to"`
			} `json:"files"`
		} `json:"platforms"`
	} `json:"spec"`
}

// TestKrewManifest: hack/krew/bindsync.yaml is a krew Plugin for the four
// release archives, named bindsync_<version>_<os>_<arch>.tar.gz, each
// installing the bindsync binary (krew links it as kubectl-bindsync).
func TestKrewManifest(t *testing.T) {
	root, err := testenv.ModuleRoot()
	require.NoError(t, err)
	data, err := os.ReadFile(filepath.Join(root, "hack", "krew", "bindsync.yaml"))
	require.NoError(t, err)
	var p krewPlugin
	require.NoError(t, yaml.UnmarshalStrict(data, &p, yaml.DisallowUnknownFields), "krew's fields only")
	assert.Equal(t, "krew.googlecontainertools.github.com/v1alpha2", p.APIVersion)
	assert.Equal(t, "Plugin", p.Kind)
	assert.Equal(t, "bindsync", p.Metadata.Name, "kubectl bindsync")
	assert.Equal(t, "{{VERSION}}", p.Spec.Version)
	assert.NotEmpty(t, p.Spec.ShortDescription)
	assert.NotEmpty(t, p.Spec.Description)
	assert.NotEmpty(t, p.Spec.Homepage)

	want := map[string]bool{"linux/amd64": true, "linux/arm64": true, "darwin/amd64": true, "darwin/arm64": true}
	for _, pl := range p.Spec.Platforms {
		osArch := pl.Selector.MatchLabels["os"] + "/" + pl.Selector.MatchLabels["arch"]
		require.True(t, want[osArch], "platform %s once", osArch)
		delete(want, osArch)
		archive := "bindsync_{{VERSION}}_" + strings.ReplaceAll(osArch, "/", "_") + ".tar.gz"
		assert.Equal(t, "https://github.com/bindsync/bindsync/releases/download/{{VERSION}}/"+archive, pl.URI, osArch)
		assert.Equal(t, "{{SHA256_"+strings.ReplaceAll(osArch, "/", "_")+"}}", pl.SHA256, osArch)
		assert.Equal(t, "bindsync", pl.Bin, osArch)
		require.NotEmpty(t, pl.Files, osArch)
		assert.Equal(t, "bindsync", pl.Files[0].From, osArch)
	}
	assert.Empty(t, want, "a platform for each release archive")
}
