package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"precheckwatch/config"
	"precheckwatch/handler"
	"precheckwatch/localcloud"
	"precheckwatch/notify/slack"
	"precheckwatch/precheck"
)

func runLocalCloud(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("localcloud", "localcloud [flags]", stderr)
	sasAddr := fs.String("sas", "127.0.0.1:9200", "Security Center emulator address")
	mnsAddr := fs.String("mns", "127.0.0.1:9100", "MNS emulator address")
	slackAddr := fs.String("slack", "127.0.0.1:9300", "Slack emulator address")
	dingAddr := fs.String("dingtalk", "127.0.0.1:9400", "DingTalk emulator address")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	cloud, err := localcloud.Start(localcloud.Options{SASAddr: *sasAddr, MNSAddr: *mnsAddr, SlackAddr: *slackAddr, DingTalkAddr: *dingAddr})
	if err != nil {
		fmt.Fprintf(stderr, "precheckwatch localcloud: %v\n", err)
		return exitFailure
	}
	defer cloud.Close()
	fmt.Fprint(stdout, cloud.Exports())
	fmt.Fprintln(stderr, "local cloud running; eval this output in another shell, Ctrl-C to stop")
	<-ctx.Done()
	return exitOK
}

func runInvoke(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("invoke", "invoke --event FILE", stderr)
	eventFile := fs.String("event", "", "event JSON file (see events/); - reads standard input")
	timeout := fs.Duration("timeout", 60*time.Second, "invocation deadline, as FC's function timeout")
	if code, ok := parseFlags(fs, args); !ok {
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
	f, err := newFunction(cfg, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "precheckwatch invoke: %v\n", err)
		return exitConfig
	}
	defer f.close()
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	rep, err := f.handle(ctx, handler.Invocation{RequestID: "cli-" + time.Now().UTC().Format("20060102T150405"), Region: cfg.Region, AccountID: cfg.AccountID}, event)
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
	fs := newFlags("enqueue", "enqueue --task-id ID --region REGION [flags]", stderr)
	id := fs.String("task-id", "", "precheck task id (StartPreCheckDatabase's CreateMark)")
	tf := addTaskFlags(fs)
	if code, ok := parseFlags(fs, args); !ok {
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
	return enqueue(ctx, cfg, t, stdout, stderr)
}

func runStart(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("start", "start --database-type TYPE --instance-uuid UUID --region REGION [--label L]", stderr)
	tf := addTaskFlags(fs)
	if code, ok := parseFlags(fs, args); !ok {
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
	f, err := newFunction(cfg, io.Discard)
	if err != nil {
		fmt.Fprintf(stderr, "precheckwatch start: %v\n", err)
		return exitConfig
	}
	defer f.close()
	client, err := f.sasFor(cfg.Region)
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
	return enqueue(ctx, cfg, t, stdout, stderr)
}

func enqueue(ctx context.Context, cfg config.Config, t precheck.Task, stdout, stderr io.Writer) int {
	q, err := newMNSQueues(cfg).Open(ctx, handler.Invocation{Region: cfg.Region, AccountID: cfg.AccountID, Credentials: cfg.Credentials}, cfg.Queue)
	if err != nil {
		fmt.Fprintf(stderr, "precheckwatch: %v\n", err)
		return exitConfig
	}
	body, err := t.Encode()
	if err != nil {
		fmt.Fprintf(stderr, "precheckwatch: %v\n", err)
		return exitFailure
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if errs := q.Send(ctx, []handler.Outgoing{{Body: body}}); len(errs) > 0 && errs[0] != nil {
		fmt.Fprintf(stderr, "precheckwatch: send to %s: %v\n", cfg.Queue, errs[0])
		return exitFailure
	}
	fmt.Fprintf(stdout, "enqueued task %s on %s\n", t.TaskID, cfg.Queue)
	return exitOK
}

func runStatus(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("status", "status [--region REGION] [--instance-uuid UUID] TASK_ID", stderr)
	tf := addTaskFlags(fs)
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(stderr, "precheckwatch status: give exactly one TASK_ID")
		return exitUsage
	}
	cfg, ok := loadConfig(stderr)
	if !ok {
		return exitConfig
	}
	t := tf.task(fs.Arg(0), cfg.Region)
	if err := t.Validate(); err != nil {
		fmt.Fprintf(stderr, "precheckwatch status: %v (use --region or FC_REGION)\n", err)
		return exitUsage
	}
	f, err := newFunction(cfg, io.Discard)
	if err != nil {
		fmt.Fprintf(stderr, "precheckwatch status: %v\n", err)
		return exitConfig
	}
	defer f.close()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	inv := handler.Invocation{Region: cfg.Region, Credentials: cfg.Credentials}
	st, err := sasChecker{f}.Query(ctx, inv, t)
	if err != nil {
		fmt.Fprintf(stderr, "precheckwatch status: %v\n", err)
		return exitFailure
	}
	if st.Description == "" {
		fmt.Fprintf(stderr, "precheckwatch status: Security Center knows no task %s in %s\n", t.TaskID, t.UniRegionID)
		return exitNotFound
	}
	d := precheck.Decide(t, st, time.Now(), precheck.Policy{BackoffInitial: cfg.BackoffInitial, BackoffMax: cfg.BackoffMax, Deadline: cfg.TaskDeadline}, 0)
	if d.Action != precheck.Finish {
		fmt.Fprintf(stdout, "task %s is still running: progress %d%% (Description=%s)\n", t.TaskID, st.Progress, st.Description)
		return exitOK
	}
	fmt.Fprintln(stdout, slack.Renderer{}.Verdict(d.Task, *d.Task.Final).Content.Plain())
	return exitOK
}
