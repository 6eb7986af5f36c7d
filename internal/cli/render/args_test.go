package render_test

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bindsync/bindsync/internal/statedir"
)

func TestTheInputFolderMayBeGivenAsTheArgument(t *testing.T) {
	for name, args := range map[string][]string{
		"as the argument":             {"render", examplesIn, "--out"},
		"with --in":                   {"render", "--in", examplesIn, "--out"},
		"both, naming the same place": {"render", examplesIn, "--in", examplesIn + "/", "--out"},
	} {
		t.Run(name, func(t *testing.T) {
			out := t.TempDir()
			runOK(t, append(args, out)...)
			want, err := statedir.Read(examplesOut)
			require.NoError(t, err)
			got, err := statedir.Read(out)
			require.NoError(t, err)
			assert.True(t, statedir.Diff(want, got).Empty())
		})
	}
}

func TestAMissingFolderIsNamed(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out")
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"nothing given", []string{"render"}, "bindsync: missing the input folder and --out: render DIR --out DIR\n"},
		{"no --out", []string{"render", examplesIn}, "bindsync: missing --out DIR: the state repository folder to write\n"},
		{"no input folder", []string{"render", "--out", out}, "bindsync: missing the input folder: give it as the argument (render DIR --out DIR) or with --in DIR\n"},
		{"two input folders", []string{"render", examplesIn, "--in", examplesOut, "--out", out}, "bindsync: two input folders: " + examplesIn + " (argument) and " + examplesOut + " (--in); give one\n"},
		{"two arguments", []string{"render", examplesIn, examplesOut, "--out", out}, "bindsync: accepts at most 1 arg(s), received 2\n"},
		{"--check and --init", []string{"render", examplesIn, "--out", out, "--check", "--init"}, "bindsync: --check writes nothing, so --init has nothing to do; give one of them\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := run(tc.args...)
			assert.Equal(t, 2, code)
			assert.Empty(t, stdout)
			assert.Equal(t, tc.want, stderr)
			assert.NoDirExists(t, out)
		})
	}
}
