//go:build nolocalcloud

package cli

import (
	"strings"
	"testing"
)

// The deployed build leaves the developer commands out: each is still
// listed, and says how to run it from the source, without running anything.
func TestDeveloperCommandsSayHowToRunThem(t *testing.T) {
	_, help, _ := cli(t, "--help")
	for _, name := range []string{"demo", "localcloud", "bench", "preview"} {
		if !strings.Contains(help, "not in this build (-tags nolocalcloud); run it from the source: go run . "+name) {
			t.Errorf("--help does not say %s is left out of this build:\n%s", name, help)
		}
		code, out, errOut := cli(t, name, "--help")
		if code != exitUsage || out != "" || !strings.Contains(errOut, "leaves out the developer commands") || !strings.Contains(errOut, "go run . "+name) {
			t.Errorf("%s in the deployed build: exit %d, stdout %q, stderr %q; want exit %d and how to run it", name, code, out, errOut, exitUsage)
		}
	}
}
