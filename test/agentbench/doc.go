// Package agentbench holds the agent's benchmarks (`make bench`): a cold sync
// of 211 CRDs against `kubectl apply --server-side` of the same files, the
// no-op reconcile, a webhook-triggered push, and the agent process's memory.
// They start real API servers and run the real `bindsync agent` binary, so
// they are Go benchmarks: plain `go test ./...` compiles them and runs the
// fixture's unit tests only. The figures are in docs/agent.md.
package agentbench
