//go:build tools

// Package tools pins the etcd that bindsync's integration tests run against.
// It lives in its own module so the product's go.mod never requires etcd's server.
package tools

import _ "go.etcd.io/etcd/server/v3"
