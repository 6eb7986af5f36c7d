//go:build tools

// Package tools pins the kubectl that `make bench` compares the agent with
// (a server-side apply of the same CRD files). It lives in its own module,
// apart from kube-apiserver's, so that building it never invalidates the
// cached test API server.
package tools

import _ "k8s.io/kubernetes/cmd/kubectl"
