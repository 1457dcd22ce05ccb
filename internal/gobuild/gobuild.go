// Package gobuild builds the function binaries that tests run as real
// processes under the emulated FC runtime.
package gobuild

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// Build compiles the main package pkg (an import path or a path relative to
// the working directory), with the go build flags given, into a new
// temporary directory. It returns the binary and a function that removes
// it; the compiler's messages go to standard error.
func Build(pkg string, flags ...string) (binary string, remove func(), err error) {
	dir, err := os.MkdirTemp("", "precheckwatch-build-")
	if err != nil {
		return "", nil, err
	}
	remove = func() { os.RemoveAll(dir) }
	binary = filepath.Join(dir, "main")
	build := exec.Command("go", append(append([]string{"build", "-o", binary}, flags...), pkg)...)
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		remove()
		return "", nil, fmt.Errorf("build %s: %w", pkg, err)
	}
	return binary, remove, nil
}
