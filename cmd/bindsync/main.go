// Command bindsync carries Kubernetes APIs from a control-plane cluster to app
// clusters through a Git state repository. See the README for the commands.
package main

import "github.com/bindsync/bindsync/internal/cli/app"

func main() { app.Main() }
