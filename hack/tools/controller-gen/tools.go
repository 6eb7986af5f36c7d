//go:build tools

// Package tools pins controller-gen, which generates bindsync's deepcopy code
// and CRD manifests. It lives in its own module to keep the product's go.mod lean.
package tools

import _ "sigs.k8s.io/controller-tools/cmd/controller-gen"
