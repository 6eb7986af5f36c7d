// Package app assembles bindsync's command tree and runs it. Each command word
// lives in its own package under internal/cli and exports only NewCommand.
package app

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/bindsync/bindsync/internal/cli/check"
	"github.com/bindsync/bindsync/internal/cli/exitcode"
	"github.com/bindsync/bindsync/internal/cli/render"
)

// Main runs bindsync with the process arguments and exits with the code the
// command chose (see internal/cli/exitcode).
func Main() {
	os.Exit(Run(os.Args[1:], os.Stdout, os.Stderr))
}

// Run executes bindsync with args, writing data to stdout and progress and
// errors to stderr. It returns the process exit code.
func Run(args []string, stdout, stderr io.Writer) int {
	root := NewRootCommand(stdout, stderr)
	root.SetArgs(args)
	err := root.Execute()
	if err == nil {
		return 0
	}
	var coded *exitcode.Error
	if errors.As(err, &coded) {
		if coded.Err != nil {
			fmt.Fprintf(stderr, "bindsync: %v\n", coded.Err)
		}
		return coded.Code
	}
	fmt.Fprintf(stderr, "bindsync: %v\n", err)
	return exitcode.Unusable
}

// NewRootCommand returns the bindsync command with every subcommand attached.
func NewRootCommand(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:           "bindsync",
		Short:         "Carry Kubernetes APIs from a control plane to app clusters through Git",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	for _, newCmd := range commands {
		root.AddCommand(newCmd(stdout, stderr))
	}
	return root
}

// commands lists the constructors of every command word, in help order.
var commands = []func(stdout, stderr io.Writer) *cobra.Command{
	render.NewCommand,
	check.NewCommand,
}
