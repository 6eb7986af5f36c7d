package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// BuildBindsync builds cmd/bindsync into dir as the image (Dockerfile) and
// `make build` build it: static (CGO_ENABLED=0), -trimpath, -ldflags "-s -w",
// so the tests and benchmarks run and measure the binary that ships. (A cgo
// build of the same code exports every symbol, because kustomize links Go's
// plugin package: 110 MB instead of 41 MB, some 30 MB more of it resident.)
// It returns the binary's path.
func BuildBindsync(dir string) (string, error) {
	root, err := ModuleRoot()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "bindsync")
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", bin, "./cmd/bindsync")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/bindsync: %v\n%s", err, out)
	}
	return bin, nil
}

// BuildStandinProvider builds hack/standin-provider (the provider the
// instance-sync tests and benchmarks run beside the backend) into dir,
// static like bindsync, and returns the binary's path.
func BuildStandinProvider(dir string) (string, error) {
	root, err := ModuleRoot()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "standin-provider")
	cmd := exec.Command("go", "build", "-o", bin, "./hack/standin-provider")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./hack/standin-provider: %v\n%s", err, out)
	}
	return bin, nil
}
