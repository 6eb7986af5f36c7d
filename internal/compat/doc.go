// Package compat decides whether a CRD change may roll out: it compares two
// CustomResourceDefinitions and reports every difference as a Finding,
// judged by one rule of a fixed catalogue (Rules).
//
// Compare is a pure function of the two CRDs: no cluster, no clock. It runs
// whole-CRD rules once (scope, names, versions, storage, conversion), version
// rules for every version present in both CRDs, and schema rules for every
// property present in both schemas. Whatever no rule understands is reported
// as unknown-change, which is breaking: the engine fails closed.
//
// A Report's Verdict is the value of the Bindsync-Compat commit trailer. The
// rule catalogue, its severities and the decisions behind them are documented
// in docs/compatibility.md; a test keeps the two in step.
package compat
