package cli

import (
	"bytes"
	"slices"
	"strings"
	"testing"
)

// cli runs one command line in-process and returns its exit code and output.
func cli(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := Run(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

// Flags may follow the arguments, as the README writes status; "--" ends the
// flags; a command that takes no argument refuses one.
func TestFlagsInAnyOrder(t *testing.T) {
	for _, tc := range []struct {
		args       []string
		n          int
		positional []string
		region     string
		ok         bool
	}{
		{[]string{"t-1", "--region", "cn-hangzhou"}, 1, []string{"t-1"}, "cn-hangzhou", true},
		{[]string{"--region", "cn-hangzhou", "t-1"}, 1, []string{"t-1"}, "cn-hangzhou", true},
		{[]string{"--region=cn-beijing", "--", "-t-dash"}, 1, []string{"-t-dash"}, "cn-beijing", true},
		{[]string{"t-1", "t-2"}, 1, nil, "", false},
		{[]string{"--region", "x"}, 1, nil, "", false},
		{[]string{"stray"}, 0, nil, "", false},
	} {
		var out, errOut bytes.Buffer
		fs := newFlags("test", "test", &out, &errOut)
		region := fs.String("region", "", "")
		positional, code, ok := fs.parseArgs(tc.args, tc.n)
		if ok != tc.ok || (ok && (!slices.Equal(positional, tc.positional) || *region != tc.region)) {
			t.Errorf("parse %q: ok %v, arguments %q, region %q; want %v, %q, %q (%s)", tc.args, ok, positional, *region, tc.ok, tc.positional, tc.region, errOut.String())
		}
		if !ok && (code != exitUsage || errOut.Len() == 0) {
			t.Errorf("parse %q: exit %d with %q, want %d and a message", tc.args, code, errOut.String(), exitUsage)
		}
	}
}

func TestConfigCommand(t *testing.T) {
	t.Setenv("SLACK_BOT_TOKEN", "xoxb-config-secret")
	t.Setenv("SLACK_CHANNEL", "C1")
	t.Setenv("DINGTALK_WEBHOOK_URL", "https://oapi.dingtalk.com/robot/send?access_token=config-secret-token")
	code, out, _ := cli(t, "config")
	if code != exitOK || !strings.Contains(out, "SLACK_CHANNEL") || !strings.Contains(out, "channels: dingtalk, slack") {
		t.Fatalf("config: %d\n%s", code, out)
	}
	if strings.Contains(out, "config-secret") {
		t.Fatalf("config printed a secret:\n%s", out)
	}
	t.Setenv("BACKOFF_MAX", "forever")
	t.Setenv("CHECK_CONCURRENCY", "-3")
	code, _, errOut := cli(t, "config")
	if code != exitConfig || !strings.Contains(errOut, "BACKOFF_MAX") || !strings.Contains(errOut, "CHECK_CONCURRENCY") {
		t.Fatalf("bad config: exit %d, %q", code, errOut)
	}
}

// Without FC_REGION, status and enqueue find Security Center by the task's
// region, as --region gives it: what stops them here is the missing keys.
func TestTaskRegionPicksSecurityCenterWithoutFCRegion(t *testing.T) {
	for _, name := range []string{"FC_REGION", "SAS_ENDPOINT", "ALIBABA_CLOUD_ACCESS_KEY_ID", "ALIBABA_CLOUD_ACCESS_KEY_SECRET"} {
		t.Setenv(name, "")
	}
	for _, args := range [][]string{{"status", "t-1", "--region", "cn-hangzhou"}, {"enqueue", "--task-id", "t-1", "--region", "ap-southeast-1"}} {
		code, _, errOut := cli(t, args...)
		if code != exitFailure || strings.Contains(errOut, "no Security Center endpoint") || !strings.Contains(errOut, "access key") {
			t.Errorf("%q: exit %d, %q; want it to reach for the region's Security Center and stop at the missing keys", args, code, errOut)
		}
	}
}
