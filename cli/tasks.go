package cli

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"precheckwatch/config"
	"precheckwatch/function"
	"precheckwatch/handler"
	"precheckwatch/notify/slack"
	"precheckwatch/precheck"
)

func runInvoke(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("invoke", "invoke --event FILE", stdout, stderr)
	eventFile := fs.String("event", "", "event JSON file (see events/); - reads standard input")
	timeout := fs.Duration("timeout", 60*time.Second, "invocation deadline, as FC's function timeout")
	if code, ok := fs.parse(args); !ok {
		return code
	}
	if *eventFile == "" {
		fmt.Fprintln(stderr, "precheckwatch invoke: --event FILE is required")
		return exitUsage
	}
	event, err := readInput(*eventFile)
	if err != nil {
		fmt.Fprintf(stderr, "precheckwatch invoke: %v\n", err)
		return exitUsage
	}
	cfg, ok := loadConfig(stderr)
	if !ok {
		return exitConfig
	}
	f, err := function.New(cfg, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "precheckwatch invoke: %v\n", err)
		return exitConfig
	}
	defer f.Close()
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	rep, err := f.Handle(ctx, handler.Invocation{RequestID: "cli-" + time.Now().UTC().Format("20060102T150405"), Region: cfg.Region, AccountID: cfg.AccountID}, event)
	out, _ := json.MarshalIndent(rep, "", "  ")
	fmt.Fprintln(stdout, string(out))
	if err != nil {
		fmt.Fprintf(stderr, "precheckwatch invoke: %v\n", err)
		return exitFailure
	}
	return exitOK
}

func readInput(name string) ([]byte, error) {
	if name == "-" {
		return io.ReadAll(os.Stdin)
	}
	return os.ReadFile(name)
}

// taskFlags are the task fields shared by enqueue and start.
type taskFlags struct {
	region, uuid, dbType, label *string
}

func addTaskFlags(fs interface {
	String(name, value, usage string) *string
}) taskFlags {
	return taskFlags{
		region: fs.String("region", "", "region of the database host (UniRegionId), e.g. cn-hangzhou; default FC_REGION"),
		uuid:   fs.String("instance-uuid", "", "backup agent UUID of the database (InstanceUuid, from DescribeUniBackupDatabase)"),
		dbType: fs.String("database-type", "", "MYSQL, MSSQL or Oracle"),
		label:  fs.String("label", "", "a name people know the database by, shown in messages"),
	}
}

func (tf taskFlags) task(id, defaultRegion string) precheck.Task {
	region := *tf.region
	if region == "" {
		region = defaultRegion
	}
	return precheck.Task{TaskID: id, UniRegionID: region, InstanceUUID: *tf.uuid, DatabaseType: *tf.dbType, Label: *tf.label}
}

func runEnqueue(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("enqueue", "enqueue --task-id ID --region REGION [flags]", stdout, stderr)
	id := fs.String("task-id", "", "precheck task id (StartPreCheckDatabase's CreateMark)")
	tf := addTaskFlags(fs)
	skipCheck := fs.Bool("skip-check", false, "enqueue without first asking Security Center whether it knows the task")
	if code, ok := fs.parse(args); !ok {
		return code
	}
	cfg, ok := loadConfig(stderr)
	if !ok {
		return exitConfig
	}
	t := tf.task(*id, cfg.Region)
	if err := t.Validate(); err != nil {
		fmt.Fprintf(stderr, "precheckwatch enqueue: %v (use --task-id and --region)\n", err)
		return exitUsage
	}
	if !*skipCheck {
		known, code := queryTask(ctx, cfg, t, "enqueue", stderr)
		if code != exitOK {
			return code
		}
		if !known {
			fmt.Fprintf(stderr, "precheckwatch enqueue: Security Center knows no task %s in %s; not enqueued "+
				"(check --task-id, --region and --instance-uuid; --skip-check enqueues it anyway)\n", t.TaskID, t.UniRegionID)
			return exitNotFound
		}
	}
	if err := function.Enqueue(ctx, cfg, t); err != nil {
		fmt.Fprintf(stderr, "precheckwatch enqueue: %v\n", err)
		return exitCodeOf(err)
	}
	fmt.Fprintf(stdout, "enqueued task %s on %s\n", t.TaskID, cfg.Queue)
	return exitOK
}

// queryTask asks Security Center once whether it knows t; code is not
// exitOK when it could not be asked.
func queryTask(ctx context.Context, cfg config.Config, t precheck.Task, command string, stderr io.Writer) (known bool, code int) {
	st, code := queryStatus(ctx, cfg, t, command, stderr)
	return st.Description != "", code
}

// queryStatus queries t once with QueryPreCheckDatabase.
func queryStatus(ctx context.Context, cfg config.Config, t precheck.Task, command string, stderr io.Writer) (precheck.Status, int) {
	checker, code := newChecker(cfg, command, stderr)
	if code != exitOK {
		return precheck.Status{}, code
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	// Without FC_REGION, the task's region picks the Security Center site.
	st, err := checker.Query(ctx, handler.Invocation{Region: cmp.Or(cfg.Region, t.UniRegionID), Credentials: cfg.Credentials}, t)
	if err != nil {
		fmt.Fprintf(stderr, "precheckwatch %s: query task %s with Security Center: %v\n", command, t.TaskID, err)
		return precheck.Status{}, exitFailure
	}
	return st, exitOK
}

// newChecker is the function's Security Center adapter, alone: start and
// status need nothing else of the function.
func newChecker(cfg config.Config, command string, stderr io.Writer) (*function.Checker, int) {
	checker, err := function.NewChecker(cfg.SASEndpoint, cfg.Region)
	if err != nil {
		fmt.Fprintf(stderr, "precheckwatch %s: SAS_ENDPOINT: %v\n", command, err)
		return nil, exitConfig
	}
	return checker, exitOK
}

func runStart(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("start", "start --database-type TYPE --instance-uuid UUID --region REGION [--label L]", stdout, stderr)
	tf := addTaskFlags(fs)
	if code, ok := fs.parse(args); !ok {
		return code
	}
	cfg, ok := loadConfig(stderr)
	if !ok {
		return exitConfig
	}
	t := tf.task("pending", cfg.Region)
	var missing []string
	for _, f := range [][2]string{{"--database-type", t.DatabaseType}, {"--instance-uuid", t.InstanceUUID}, {"--region", t.UniRegionID}} {
		if f[1] == "" {
			missing = append(missing, f[0])
		}
	}
	if len(missing) > 0 {
		fmt.Fprintf(stderr, "precheckwatch start: missing %s\n", strings.Join(missing, ", "))
		return exitUsage
	}
	checker, code := newChecker(cfg, "start", stderr)
	if code != exitOK {
		return code
	}
	client, err := checker.ClientFor(cmp.Or(cfg.Region, t.UniRegionID))
	if err != nil {
		fmt.Fprintf(stderr, "precheckwatch start: %v\n", err)
		return exitConfig
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	id, err := client.StartPreCheck(ctx, cfg.Credentials, t.DatabaseType, t.UniRegionID, t.InstanceUUID)
	if err != nil {
		fmt.Fprintf(stderr, "precheckwatch start: StartPreCheckDatabase: %v\n", err)
		return exitFailure
	}
	t.TaskID = id
	fmt.Fprintf(stdout, "started precheck task %s\n", id)
	if err := function.Enqueue(ctx, cfg, t); err != nil {
		// The precheck runs whatever happens here: say how to hand it to the
		// function once the queue can be reached, so that it is not lost.
		fmt.Fprintf(stderr, "precheckwatch start: precheck task %s started but not enqueued: %v\n"+
			"enqueue it with:\n  %s\n", id, err, enqueueCommand(t))
		return exitNotEnqueued
	}
	fmt.Fprintf(stdout, "enqueued task %s on %s\n", t.TaskID, cfg.Queue)
	return exitOK
}

// enqueueCommand is the command line that enqueues t, in the form this
// process was started with.
func enqueueCommand(t precheck.Task) string {
	words := []string{selfCommand(), "enqueue", "--task-id", shellQuote(t.TaskID), "--region", shellQuote(t.UniRegionID)}
	for _, f := range [][2]string{{"--instance-uuid", t.InstanceUUID}, {"--database-type", t.DatabaseType}, {"--label", t.Label}} {
		if f[1] != "" {
			words = append(words, f[0], shellQuote(f[1]))
		}
	}
	return strings.Join(words, " ")
}

// selfCommand is how to run this program again: "go run ." when it was
// built by go run (its binary then lives in Go's build cache), else the
// path it was started by.
func selfCommand() string {
	if exe, err := os.Executable(); err == nil && strings.Contains(exe, string(filepath.Separator)+"go-build") {
		return "go run ."
	}
	return shellQuote(os.Args[0])
}

// shellQuote quotes s for a POSIX shell when it holds anything but plain
// characters.
func shellQuote(s string) string {
	plain := s != ""
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("-_./:=@,+", c)) {
			plain = false
			break
		}
	}
	if plain {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// exitCodeOf is the exit code of a failed enqueue.
func exitCodeOf(err error) int {
	if errors.Is(err, function.ErrBadConfig) {
		return exitConfig
	}
	return exitFailure
}

func runStatus(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("status", "status TASK_ID [--region REGION] [--instance-uuid UUID]", stdout, stderr)
	region := fs.String("region", "", "region of the database host (UniRegionId), e.g. cn-hangzhou; default FC_REGION")
	uuid := fs.String("instance-uuid", "", "backup agent UUID of the database (InstanceUuid), if Security Center needs it to find the task")
	positional, code, ok := fs.parseArgs(args, 1)
	if !ok {
		return code
	}
	cfg, ok := loadConfig(stderr)
	if !ok {
		return exitConfig
	}
	t := precheck.Task{TaskID: positional[0], UniRegionID: *region, InstanceUUID: *uuid}
	if t.UniRegionID == "" {
		t.UniRegionID = cfg.Region
	}
	if err := t.Validate(); err != nil {
		fmt.Fprintf(stderr, "precheckwatch status: %v (use --region or FC_REGION)\n", err)
		return exitUsage
	}
	st, code := queryStatus(ctx, cfg, t, "status", stderr)
	if code != exitOK {
		return code
	}
	if st.Description == "" {
		fmt.Fprintf(stderr, "precheckwatch status: Security Center knows no task %s in %s\n", t.TaskID, t.UniRegionID)
		return exitNotFound
	}
	now := time.Now()
	fate := precheck.Decide(precheck.Facts{Task: t, FirstSeen: now, Reply: precheck.Answer(st), Now: now}, precheck.Policy{BackoffInitial: cfg.BackoffInitial, BackoffMax: cfg.BackoffMax, Deadline: cfg.TaskDeadline})
	if fate.Action != precheck.Deliver {
		fmt.Fprintf(stdout, "task %s is still running: progress %d%% (Description=%s)\n", t.TaskID, st.Progress, st.Description)
		return exitOK
	}
	// One query by hand says nothing of how long the function waited for
	// the verdict, so the message's count of queries and wait are left out.
	task, out := fate.Task, *fate.Outcome
	task.Attempt, out.Attempts, out.FirstSeen = 0, 0, 0
	fmt.Fprintln(stdout, slack.Renderer{}.Verdict(task, out).Content.Plain())
	return exitOK
}
