//go:build tools

// Package tools pins the kube-apiserver that bindsync's integration tests run
// against. It lives in its own module so the product's go.mod never requires
// k8s.io/kubernetes.
package tools

import _ "k8s.io/kubernetes/cmd/kube-apiserver"
