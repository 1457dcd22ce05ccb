// Package gobuild builds the function binaries that tests run as real
// processes under the emulated FC runtime.
package gobuild

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// build compiles the main package pkg (an import path or a path relative to
// the working directory), with the go build flags given, into a new
// temporary directory. It returns the binary and a function that removes
// it; the compiler's messages go to standard error.
func build(pkg string, flags ...string) (binary string, remove func(), err error) {
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

// Main is the TestMain of a package whose tests run a built binary: it
// builds pkg with flags into *binary, runs the tests, removes the binary
// and exits with the tests' code, or with 1 when the build fails.
func Main(m *testing.M, binary *string, pkg string, flags ...string) {
	built, remove, err := build(pkg, flags...)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	*binary = built
	code := m.Run()
	remove()
	os.Exit(code)
}
