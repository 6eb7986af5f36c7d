// Package version implements `bindsync version`: which bindsync this is,
// from which commit, built with which Go.
package version

import (
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"

	"github.com/bindsync/bindsync/internal/cli/exitcode"
)

// version and commit are set at build time by the Makefile:
//
//	go build -ldflags "-X github.com/bindsync/bindsync/internal/cli/version.version=$(git describe --always --dirty)
//	  -X github.com/bindsync/bindsync/internal/cli/version.commit=$(git rev-parse HEAD)"
//
// When empty, what the Go toolchain recorded is used: the module version
// (`go install`) and the VCS revision (unless built with -buildvcs=false).
var version, commit string

// Info describes the running binary.
type Info struct {
	// Version is the release (git describe) the binary was built from, or
	// "devel" when the build did not say.
	Version string `json:"version"`
	// Commit is the git commit of the source, with "-dirty" when the
	// working tree had changes; "unknown" when the build recorded none.
	Commit string `json:"commit"`
	// GoVersion is the Go toolchain that built the binary.
	GoVersion string `json:"goVersion"`
	// Platform is GOOS/GOARCH.
	Platform string `json:"platform"`
}

// Get returns the running binary's Info.
func Get() Info {
	bi, _ := debug.ReadBuildInfo()
	return info(version, commit, bi)
}

// info combines what the linker was told with what the Go toolchain
// recorded in the binary.
func info(ldVersion, ldCommit string, bi *debug.BuildInfo) Info {
	i := Info{Version: ldVersion, Commit: ldCommit, GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if bi == nil {
		bi = &debug.BuildInfo{}
	}
	if i.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		i.Version = bi.Main.Version
	}
	if i.Version == "" {
		i.Version = "devel"
	}
	var revision string
	var modified bool
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			revision = s.Value
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	if i.Commit == "" && revision != "" {
		i.Commit = revision
		if modified {
			i.Commit += "-dirty"
		}
	}
	if i.Commit == "" {
		i.Commit = "unknown"
	}
	if bi.GoVersion != "" {
		i.GoVersion = bi.GoVersion
	}
	return i
}

// NewCommand returns the version command.
func NewCommand(stdout, _ io.Writer) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the version, git commit and Go version of this binary",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return write(stdout, cmd.Root().DisplayName(), Get(), output)
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	return cmd
}

func write(w io.Writer, name string, i Info, output string) error {
	switch output {
	case "text":
		fmt.Fprintf(w, "%s %s\ncommit: %s\ngo: %s %s\n", name, i.Version, i.Commit, i.GoVersion, i.Platform)
	case "json":
		b, err := json.MarshalIndent(i, "", "  ")
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "%s\n", b)
	default:
		return exitcode.New(exitcode.Unusable, fmt.Errorf("unknown output format %q: use text or json", output))
	}
	return nil
}
