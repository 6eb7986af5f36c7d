// Package backend is the control-plane reconciler of bindsync: it watches
// AppClusters, APIServiceExportTemplates, APIServiceExportRequests and the
// CRDs templates reference, turns them into commits on the state repository
// (main, and approval branches), applies main's control-plane folders back to
// the control plane and writes status.
//
// There is one reconcile for the whole state: every object feeds one render
// of main, so every watch enqueues the same key. The reconcile runs named
// phases (fetch, decide, render, commit, push, apply, report; see
// reconciler.phases); each returns a typed error (stalling, waiting or
// generic, see errors.go) that result maps to a requeue in one place, and the
// report phase always runs, so status says what happened even when git or the
// API server was away. What to write is decided by the pure package
// internal/backend/plan.
//
// The backend reaches git and the control plane's apply through two small
// interfaces, Repo and Applier, implemented by internal/git and
// internal/apply (see adapters.go).
package backend
