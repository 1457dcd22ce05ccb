//go:build nolocalcloud

package cli

import (
	"context"
	"fmt"
	"io"
)

// developerCommands stand for the commands for a developer's machine (the
// local cloud's and the preview's), which this build leaves out so that the
// deployed function carries no emulator code and starts only what it uses:
// each says how to run it from the source.
func developerCommands() []command {
	var out []command
	for _, name := range []string{"demo", "localcloud", "bench", "preview"} {
		out = append(out, command{name, "not in this build (-tags nolocalcloud); run it from the source: go run . " + name,
			func(_ context.Context, _ []string, _, stderr io.Writer) int {
				fmt.Fprintf(stderr, "precheckwatch %s: this build leaves out the developer commands (-tags nolocalcloud); run it from the source: go run . %s\n", name, name)
				return exitUsage
			}})
	}
	return out
}
