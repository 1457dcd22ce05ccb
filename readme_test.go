//go:build unix

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"precheckwatch/config"
	"precheckwatch/internal/waitfor"
	"precheckwatch/localcloud/fcruntime"
)

// localCloudEnvFile is where the localcloud command writes its export
// lines by default, as the README sources them.
const localCloudEnvFile = "localcloud.env"

// readmeCommand is how TestREADMECommands treats one command of the README.
type readmeCommand struct {
	// skip, when set, is why the command is not run here.
	skip string
	// background runs the command until the walk ends, as in a terminal
	// of its own.
	background bool
	// check looks at what the command did; out is its standard output, w
	// the walk so far.
	check func(t *testing.T, w *readmeWalk, out string)
}

// readmeCommands are the README's shell commands, each exactly as written,
// in the README's order.
var readmeCommands = []struct {
	line string
	readmeCommand
}{
	{"go run . demo", readmeCommand{check: func(t *testing.T, _ *readmeWalk, out string) {
		if !strings.Contains(lastLine(out), "all 4 tasks reached their verdict") {
			t.Errorf("demo's last line is %q", lastLine(out))
		}
	}}},
	{"./scripts/test.sh", readmeCommand{skip: "it runs this test"}},
	{"go run . localcloud --precheck-duration 1ms", readmeCommand{background: true}},
	{". ./localcloud.env", readmeCommand{check: func(t *testing.T, w *readmeWalk, _ string) {
		w.source(t, localCloudEnvFile)
	}}},
	{`go run . start --database-type MYSQL --instance-uuid u-1 --region cn-hangzhou --label "orders-db dev"`, readmeCommand{check: func(t *testing.T, w *readmeWalk, out string) {
		m := regexp.MustCompile(`started precheck task (t-\S+)\nenqueued task t-\S+ on precheck-pending\n`).FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("start printed %q", out)
		}
		w.taskID = m[1]
	}}},
	{"go run . invoke --event events/timer.json", readmeCommand{check: func(t *testing.T, w *readmeWalk, out string) {
		var rep struct {
			Finished int            `json:"finished"`
			Notified map[string]int `json:"notified"`
		}
		if err := json.Unmarshal([]byte(out), &rep); err != nil || rep.Finished != 1 || rep.Notified["slack"] != 1 || rep.Notified["dingtalk"] != 1 || rep.Notified["feishu"] != 1 {
			t.Fatalf("invoke's report is not one task finished and posted on every channel (%v):\n%s", err, out)
		}
		// The first terminal shows the task's message on every channel.
		w.waitForOutput(t, 0, func(shown string) bool {
			return strings.Contains(shown, "Slack #db-oncall") && strings.Contains(shown, "DingTalk db-oncall") &&
				strings.Contains(shown, "Feishu db-oncall") && strings.Count(shown, w.taskID) >= 3
		})
	}}},
	{"go build -o precheckwatch . && ./precheckwatch --help", readmeCommand{check: func(t *testing.T, w *readmeWalk, out string) {
		if !strings.HasPrefix(out, "precheckwatch watches") {
			t.Errorf("./precheckwatch --help printed %q", out)
		}
	}}},
	{"go run . demo --fleet", readmeCommand{check: func(t *testing.T, _ *readmeWalk, out string) {
		if !strings.HasPrefix(lastLine(out), "both fleet runs summarised once on every channel") || strings.Count(out, "— summary of demo-fleet-week-") != 6 {
			t.Errorf("demo --fleet printed %d summaries, last line %q", strings.Count(out, "— summary of demo-fleet-week-"), lastLine(out))
		}
	}}},
	{"go run . fleet --region cn-hangzhou --type MYSQL --match 'prod-*' --dry-run", readmeCommand{check: func(t *testing.T, _ *readmeWalk, out string) {
		if !regexp.MustCompile(`(?m)^would check [1-9]\d* databases \(of \d+ listed\):\n  cn-hangzhou +MYSQL +prod-`).MatchString(out) {
			t.Errorf("the fleet dry run printed %q", out)
		}
	}}},
	{"go run . fleet --region cn-hangzhou --type MYSQL --match 'prod-*'", readmeCommand{check: func(t *testing.T, _ *readmeWalk, out string) {
		m := regexp.MustCompile(`started ([1-9]\d*) prechecks, enqueued (\d+) tasks on precheck-pending`).FindStringSubmatch(out)
		if m == nil || m[1] != m[2] {
			t.Errorf("the fleet run printed %q", out)
		}
	}}},
	{"export SLACK_BOT_TOKEN=xoxb-… SLACK_CHANNEL=C0123456789", readmeCommand{skip: "deploying needs a Slack workspace"}},
	{"export DINGTALK_WEBHOOK_URL='https://oapi.dingtalk.com/robot/send?access_token=…' DINGTALK_SECRET=SEC…", readmeCommand{skip: "deploying needs a DingTalk robot"}},
	{"export DEDUPE_URL='redis://:password@r-….redis.rds.aliyuncs.com:6379/0'", readmeCommand{skip: "deploying needs a Redis in the cloud"}},
	{`go run . start --database-type MYSQL --instance-uuid ebc89550… --region cn-hangzhou --label "orders-db prod"`, readmeCommand{skip: "needs an Alibaba Cloud account"}},
	{"go run . bench", readmeCommand{skip: "a benchmark of minutes, run by hand"}},
	{"go run . bench --channels none", readmeCommand{skip: "a benchmark of minutes, run by hand"}},
	{"go run . bench --rate-limit 20 --timeout 120s", readmeCommand{skip: "a benchmark of minutes, run by hand"}},
	{"go run . bench --trigger mns --running 0.2", readmeCommand{skip: "a benchmark of minutes, run by hand"}},
	{"go run . bench --dedupe redis", readmeCommand{skip: "a benchmark of minutes, run by hand"}},
}

// TestREADMECommands runs the README's commands in its order and form, as a
// newcomer would, and checks each does what the text beside it says: the
// demo, the built binary, and the local cloud by hand up to a verdict shown
// in localcloud's terminal. Every command of the README must be listed in
// readmeCommands, so a new one is either run here or skipped for a reason.
func TestREADMECommands(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the README's commands with go run")
	}
	raw, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	var listed []string
	for _, c := range readmeCommands {
		listed = append(listed, c.line)
	}
	if got := shellCommands(string(raw)); !slices.Equal(got, listed) {
		t.Fatalf("the README's commands are\n  %s\nreadmeCommands lists\n  %s\n(keep them the same, in the same order)",
			strings.Join(got, "\n  "), strings.Join(listed, "\n  "))
	}

	// localcloud's ports are the machine's: one walk at a time, whoever runs it.
	lock, err := os.OpenFile(filepath.Join(os.TempDir(), "precheckwatch-readme-walk.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	// Held until the last cleanup has stopped the walk's localcloud:
	// cleanups run last-registered first.
	t.Cleanup(func() { lock.Close() })
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	// The README's localcloud listens where it says; one already running
	// there (its env file then in this directory too) would stop the walk.
	for _, port := range []string{"9100", "9200", "9300", "9400", "9500"} {
		waitForFreePort(t, "127.0.0.1:"+port)
	}
	// The README's go build writes ./precheckwatch (ignored by git); one
	// a reader built before is rebuilt, as the README's command would.
	if _, err := os.Stat("precheckwatch"); os.IsNotExist(err) {
		t.Cleanup(func() { os.Remove("precheckwatch") })
	}

	w := &readmeWalk{env: cleanEnviron()}
	for _, c := range readmeCommands {
		if c.skip != "" {
			t.Logf("not run: %s (%s)", c.line, c.skip)
			continue
		}
		if c.background {
			w.start(t, c.line)
			continue
		}
		out, errOut, code := w.run(t, c.line)
		t.Logf("ran: %s → exit %d, last line %q", c.line, code, lastLine(out))
		if code != 0 {
			t.Fatalf("%s: exit %d\n%s\n%s", c.line, code, out, errOut)
		}
		if c.check != nil {
			c.check(t, w, out)
		}
	}
}

// waitForFreePort waits up to a minute for addr to be free to listen on.
func waitForFreePort(t *testing.T, addr string) {
	t.Helper()
	var err error
	free := waitfor.Condition(time.Minute, func() bool {
		var ln net.Listener
		if ln, err = net.Listen("tcp", addr); err == nil {
			ln.Close()
		}
		return err == nil
	})
	if !free {
		t.Fatalf("%s, where the README's localcloud listens, is taken (%v): is a localcloud running? Stop it and test again", addr, err)
	}
}

// readmeWalk is the state of a walk through the README: the environment
// its shell has, and the commands running in terminals of their own.
type readmeWalk struct {
	env        []string
	taskID     string
	background []*backgroundCommand
}

type backgroundCommand struct {
	cmd  *exec.Cmd
	out  *fcruntime.Output
	done chan struct{}
}

// run runs one command line with sh in the repository, with the walk's
// environment, and returns its output and exit code.
func (w *readmeWalk) run(t *testing.T, line string) (stdout, stderr string, code int) {
	t.Helper()
	if strings.HasPrefix(line, ". ") {
		return "", "", 0 // sourcing changes the walk's own environment: see its check
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "sh", "-c", line)
	cmd.Env = w.env
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("%s: no end within 5 minutes\n%s\n%s", line, out.String(), errOut.String())
	}
	if ee, ok := err.(*exec.ExitError); ok {
		return out.String(), errOut.String(), ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%s: %v", line, err)
	}
	return out.String(), errOut.String(), 0
}

// start runs a command until the walk ends, and waits until localcloud has
// written its env file.
func (w *readmeWalk) start(t *testing.T, line string) {
	t.Helper()
	cmd := exec.Command("sh", "-c", "exec "+line)
	cmd.Env = w.env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	bc := &backgroundCommand{cmd: cmd, out: &fcruntime.Output{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = bc.out, bc.out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = cmd.Wait(); close(bc.done) }()
	w.background = append(w.background, bc)
	t.Cleanup(func() {
		// Ctrl-C in its terminal: the whole process group, go run and the program.
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGINT)
		select {
		case <-bc.done:
		case <-time.After(30 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-bc.done
			t.Errorf("%s: still running 30 s after Ctrl-C", line)
		}
		if _, err := os.Stat(localCloudEnvFile); !os.IsNotExist(err) {
			t.Errorf("%s left %s behind after Ctrl-C", line, localCloudEnvFile)
			os.Remove(localCloudEnvFile)
		}
		t.Logf("ran in its own terminal: %s → last line %q", line, lastLine(bc.out.String()))
	})
	w.waitForOutput(t, len(w.background)-1, func(shown string) bool {
		_, err := os.Stat(localCloudEnvFile)
		return err == nil && strings.Contains(shown, "# local cloud running")
	})
}

// waitForOutput waits until the output of background command i satisfies ok.
func (w *readmeWalk) waitForOutput(t *testing.T, i int, ok func(string) bool) {
	t.Helper()
	bc := w.background[i]
	deadline := time.NewTimer(3 * time.Minute)
	defer deadline.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for !ok(bc.out.String()) {
		select {
		case <-bc.done:
			t.Fatalf("%s ended early:\n%s", bc.cmd.Args[2], bc.out.String())
		case <-deadline.C:
			t.Fatalf("%s: what the walk waits for did not show within 3 minutes:\n%s", bc.cmd.Args[2], bc.out.String())
		case <-tick.C:
		}
	}
}

// source applies a file of export NAME='value' lines to the walk's
// environment, as the shell's "." does.
func (w *readmeWalk) source(t *testing.T, name string) {
	t.Helper()
	raw, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("sh", "-c", ". ./"+name+" && env -0").Output()
	if err != nil {
		t.Fatalf(". ./%s: %v", name, err)
	}
	exported := map[string]string{}
	for _, kv := range strings.Split(string(out), "\x00") {
		if k, v, ok := strings.Cut(kv, "="); ok && strings.Contains(string(raw), "export "+k+"=") {
			exported[k] = v
		}
	}
	if len(exported) == 0 {
		t.Fatalf("%s exports nothing:\n%s", name, raw)
	}
	for k, v := range exported {
		w.env = append(w.env, k+"="+v)
	}
}

// cleanEnviron is this process's environment without the function's
// configuration, as a newcomer's shell has it.
func cleanEnviron() []string {
	configured := map[string]bool{"FC_RUNTIME_API": true}
	defaults, _ := config.Load(func(string) string { return "" })
	for _, kv := range defaults.Redacted() {
		configured[kv[0]] = true
	}
	var out []string
	for _, kv := range os.Environ() {
		if name, _, _ := strings.Cut(kv, "="); !configured[name] {
			out = append(out, kv)
		}
	}
	return out
}

// shellCommands lists the commands of the README's sh code blocks, one per
// line, comments removed.
func shellCommands(readme string) []string {
	var out []string
	inBlock := false
	for _, line := range strings.Split(readme, "\n") {
		trimmed := strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(trimmed, "```sh"):
			inBlock = true
		case strings.HasPrefix(trimmed, "```"):
			inBlock = false
		case inBlock:
			if cmd := withoutComment(trimmed); cmd != "" {
				out = append(out, cmd)
			}
		}
	}
	return out
}

// withoutComment drops a shell comment (a # after a blank, outside quotes).
func withoutComment(line string) string {
	var quote rune
	for i, c := range line {
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		case c == '#' && (i == 0 || line[i-1] == ' '):
			return strings.TrimSpace(line[:i])
		}
	}
	return strings.TrimSpace(line)
}

func lastLine(out string) string {
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	return lines[len(lines)-1]
}

func TestWithoutComment(t *testing.T) {
	for in, want := range map[string]string{
		"go run . demo          # the whole function": "go run . demo",
		"export A='x#y' B=1   # or C":                 "export A='x#y' B=1",
		"# only a comment":                            "",
		"echo a#b":                                    "echo a#b",
	} {
		if got := withoutComment(in); got != want {
			t.Errorf("withoutComment(%q) = %q, want %q", in, got, want)
		}
	}
}
