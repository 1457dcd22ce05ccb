package main

import (
	"context"
	"fmt"
	"io"
)

func runBench(_ context.Context, args []string, _, stderr io.Writer) int {
	fs := newFlags("bench", "bench [flags]", stderr)
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	fmt.Fprintln(stderr, "precheckwatch bench: not built yet")
	return exitFailure
}
