// Package app assembles bindsync's command tree and runs it. Each command word
// lives in its own package under internal/cli and exports only NewCommand.
package app

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/bindsync/bindsync/internal/cli/agent"
	"github.com/bindsync/bindsync/internal/cli/approve"
	"github.com/bindsync/bindsync/internal/cli/backend"
	"github.com/bindsync/bindsync/internal/cli/bind"
	"github.com/bindsync/bindsync/internal/cli/check"
	"github.com/bindsync/bindsync/internal/cli/cluster"
	"github.com/bindsync/bindsync/internal/cli/exitcode"
	logcmd "github.com/bindsync/bindsync/internal/cli/log"
	"github.com/bindsync/bindsync/internal/cli/render"
	"github.com/bindsync/bindsync/internal/cli/status"
	"github.com/bindsync/bindsync/internal/cli/unbind"
	"github.com/bindsync/bindsync/internal/cli/version"
)

// PluginName is the file name that makes bindsync a kubectl plugin: kubectl
// runs kubectl-bindsync for `kubectl bindsync`.
const PluginName = "kubectl-bindsync"

// Main runs bindsync with the process arguments and exits with the code the
// command chose (see internal/cli/exitcode).
func Main() {
	os.Exit(RunAs(os.Args[0], os.Args[1:], os.Stdout, os.Stderr))
}

// RunAs executes bindsync started as program (argv[0]) with args, writing
// data to stdout and progress and errors to stderr, and returns the process
// exit code. Started as kubectl-bindsync, help and errors say
// `kubectl bindsync`.
func RunAs(program string, args []string, stdout, stderr io.Writer) int {
	name := DisplayName(program)
	root := NewRootCommand(stdout, stderr)
	root.Annotations = map[string]string{cobra.CommandDisplayNameAnnotation: name}
	renameExamples(root, name)
	root.SetArgs(args)
	err := root.Execute()
	if err == nil {
		return 0
	}
	var coded *exitcode.Error
	if errors.As(err, &coded) {
		if coded.Err != nil {
			fmt.Fprintf(stderr, "%s: %v\n", name, coded.Err)
		}
		return coded.Code
	}
	fmt.Fprintf(stderr, "%s: %v\n", name, err)
	return exitcode.Unusable
}

// DisplayName is how bindsync names itself when started as program:
// "kubectl bindsync" for the plugin, "bindsync" otherwise.
func DisplayName(program string) string {
	base := program[strings.LastIndexAny(program, `/\`)+1:] // either separator, whatever the OS
	base = strings.TrimSuffix(base, ".exe")
	if base == PluginName {
		return "kubectl bindsync"
	}
	return "bindsync"
}

// renameExamples makes the examples of cmd and its subcommands start with
// name, as their usage lines do.
func renameExamples(cmd *cobra.Command, name string) {
	cmd.Example = strings.ReplaceAll(cmd.Example, "  bindsync ", "  "+name+" ")
	for _, c := range cmd.Commands() {
		renameExamples(c, name)
	}
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
	cluster.NewCommand,
	bind.NewCommand,
	unbind.NewCommand,
	approve.NewCommand,
	status.NewCommand,
	logcmd.NewCommand,
	render.NewCommand,
	check.NewCommand,
	backend.NewCommand,
	agent.NewCommand,
	version.NewCommand,
}
