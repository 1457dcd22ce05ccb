//go:build nolocalcloud

package cli

import (
	"context"
	"fmt"
	"io"
)

// localCloudCommands stand for the commands that run the local cloud's
// emulators, which this build leaves out so that the deployed function
// carries no emulator code: each says how to run it from the source.
func localCloudCommands() []command {
	var out []command
	for _, name := range []string{"demo", "localcloud", "bench"} {
		out = append(out, command{name, "not in this build (-tags nolocalcloud); run it from the source: go run . " + name,
			func(_ context.Context, _ []string, _, stderr io.Writer) int {
				fmt.Fprintf(stderr, "precheckwatch %s: this build leaves out the local cloud (-tags nolocalcloud); run it from the source: go run . %s\n", name, name)
				return exitUsage
			}})
	}
	return out
}
