package main

import (
	"context"
	"fmt"
	"io"
)

func runDemo(_ context.Context, args []string, _, stderr io.Writer) int {
	fs := newFlags("demo", "demo [flags]", stderr)
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	fmt.Fprintln(stderr, "precheckwatch demo: not built yet")
	return exitFailure
}
