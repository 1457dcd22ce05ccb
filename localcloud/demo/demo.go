// Package demo runs the whole function against an in-process local cloud:
// it seeds prechecks, enqueues them as a producer would, runs the function's
// own binary under the emulated FC runtime and EventBridge, and prints the
// progress and the messages each chat received.
package demo

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"precheckwatch/config"
	"precheckwatch/function"
	"precheckwatch/handler"
	"precheckwatch/localcloud"
	"precheckwatch/localcloud/eventbridge"
	"precheckwatch/localcloud/fcruntime"
	"precheckwatch/localcloud/securitycenter"
	"precheckwatch/precheck"
	"precheckwatch/secret"
)

// demoTask is one precheck the demo seeds in the local Security Center.
type demoTask struct {
	task   precheck.Task
	script securitycenter.Task
}

func demoTasks(now time.Time) []demoTask {
	at := now.Add(-30 * time.Second)
	return []demoTask{
		{
			task: precheck.Task{TaskID: "t-000bc9nqwxsbyvod0001", UniRegionID: "cn-hangzhou", InstanceUUID: "ebc895506c6911ed800000163e0e0001", DatabaseType: "MYSQL", Label: "orders-db prod"},
			script: securitycenter.Task{DatabaseType: "MYSQL", Polls: []int{0, 35, 70, 100},
				Result: securitycenter.ResultJSON(securitycenter.Check("MYSQL", "i-bp1orders0001", at, nil))},
		},
		{
			task: precheck.Task{TaskID: "t-000bc9nqwxsbyvod0002", UniRegionID: "cn-hangzhou", InstanceUUID: "ebc895506c6911ed800000163e0e0002", DatabaseType: "MSSQL", Label: "billing-sql prod"},
			script: securitycenter.Task{DatabaseType: "MSSQL", Polls: []int{0, 50, 100},
				Result: securitycenter.ResultJSON(securitycenter.Check("MSSQL", "i-bp1billing002", at, map[string]string{"SQL_SERVER_DB_IN_SIMPLE_RECOVERY_MODE": "WARNING"}))},
		},
		{
			task: precheck.Task{TaskID: "t-000bc9nqwxsbyvod0003", UniRegionID: "cn-shanghai", InstanceUUID: "ebc895506c6911ed800000163e0e0003", DatabaseType: "Oracle", Label: "ledger-ora prod"},
			script: securitycenter.Task{DatabaseType: "Oracle", Polls: []int{10, 40, 80, 100},
				Result: securitycenter.ResultJSON(securitycenter.Check("ORACLE", "i-uf6ledger0003", at, map[string]string{"ARCHIVELOG": "NOT_ARCHIVELOG"}))},
		},
		{
			task:   precheck.Task{TaskID: "t-000bc9nqwxsbyvod0004", UniRegionID: "cn-hangzhou", InstanceUUID: "ebc895506c6911ed800000163e0e0004", DatabaseType: "MYSQL", Label: "inventory-db staging"},
			script: securitycenter.Task{DatabaseType: "MYSQL", Polls: []int{0, 20, 20}, Description: securitycenter.DescriptionError},
		},
	}
}

// demoUnreadable is a message no producer should send: the demo shows it
// going to the dead-letter queue while the rest of its batch goes on.
const demoUnreadable = `{"taskId": "t-broken", "uniRegionId": `

// Run runs the demo, printing its progress and the messages to out, until
// every task has its verdict on every chat or ctx ends. showLogs adds the
// function's JSON log lines.
func Run(ctx context.Context, out io.Writer, showLogs bool) error {
	d := &demo{out: out, showLogs: showLogs, labels: map[string]string{}, start: time.Now()}
	return d.run(ctx)
}

// demo is one run of the demo.
type demo struct {
	out      io.Writer
	showLogs bool
	start    time.Time
	labels   map[string]string // task id → label

	mu sync.Mutex // serialises output lines
}

func (d *demo) say(format string, args ...any) {
	d.mu.Lock()
	defer d.mu.Unlock()
	fmt.Fprintf(d.out, "%6.1fs  %s\n", time.Since(d.start).Seconds(), fmt.Sprintf(format, args...))
}

func (d *demo) run(ctx context.Context) error {
	cloud, err := localcloud.Start(localcloud.Options{})
	if err != nil {
		return err
	}
	defer cloud.Close()
	d.say("local cloud up: Security Center %s, MNS %s, Slack %s, DingTalk %s, Feishu %s", cloud.SASURL, cloud.MNSURL, cloud.SlackURL, cloud.DingTalkURL, cloud.FeishuURL)

	// The messages' language is the demo's own (MESSAGE_LANG and the
	// per-channel overrides), as a deployment sets it.
	env := cloud.Env()
	for _, name := range []string{"MESSAGE_LANG", "SLACK_LANG", "DINGTALK_LANG", "FEISHU_LANG"} {
		if v := os.Getenv(name); v != "" {
			env = append(env, [2]string{name, v})
		}
	}
	cfg, err := config.Load(lookup(env))
	if err != nil {
		return err
	}
	tasks := demoTasks(time.Now())
	for _, t := range tasks {
		t.script.ID, t.script.InstanceUUID, t.script.UniRegionID = t.task.TaskID, t.task.InstanceUUID, t.task.UniRegionID
		if err := cloud.SAS.AddTask(t.script); err != nil {
			return fmt.Errorf("seed %s: %w", t.task.TaskID, err)
		}
		d.labels[t.task.TaskID] = t.task.Label
		if err := function.Enqueue(ctx, cfg, t.task); err != nil {
			return fmt.Errorf("enqueue %s: %w", t.task.TaskID, err)
		}
		d.say("enqueued %-22s %s (%s)", t.task.TaskID, t.task.Label, t.task.DatabaseType)
	}
	if _, err := cloud.MNS.Send(localcloud.PendingQueue, demoUnreadable, 0); err != nil {
		return err
	}
	d.say("enqueued an unreadable message, to show it dead-lettered")

	binary, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find the function binary: %w", err)
	}
	logs, logWriter := io.Pipe()
	defer logWriter.Close()
	go d.follow(logs)
	fn, err := fcruntime.Start(ctx, fcruntime.Config{
		Binary:       binary,
		FunctionName: "precheckwatch",
		Env: fcruntime.Environ(env, [][2]string{
			{"BACKOFF_INITIAL", "1s"}, {"BACKOFF_MAX", "3s"}, {"TASK_DEADLINE", "10m"},
			// The function takes its keys from each invocation, as in FC.
			{"ALIBABA_CLOUD_ACCESS_KEY_ID", ""}, {"ALIBABA_CLOUD_ACCESS_KEY_SECRET", ""},
		}),
		Timeout:     30 * time.Second,
		Concurrency: 2,
		Credentials: func() secret.Credentials {
			return secret.Credentials{AccessKeyID: localcloud.STSAccessKeyID, AccessKeySecret: localcloud.STSAccessKeySecret, SecurityToken: localcloud.STSToken}
		},
		Stdout: logWriter,
		Stderr: logWriter,
	})
	if err != nil {
		return fmt.Errorf("start the function under the FC runtime: %w", err)
	}
	defer fn.Close()
	d.say("function started under the emulated FC runtime (go1, %s)", binary)

	trigger := cloud.DeployedStream()
	// Half a second rather than 15 s: the demo is watched by a person.
	trigger.BatchWindow, trigger.RetryScale = 500*time.Millisecond, 0.1
	stream, err := eventbridge.NewStream(fn, trigger)
	if err != nil {
		return err
	}
	timer, err := eventbridge.NewTimer(fn, eventbridge.TimerConfig{Name: "sweep", Interval: 5 * time.Second})
	if err != nil {
		return err
	}
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	go func() { _ = stream.Run(runCtx) }()
	go func() { _ = timer.Run(runCtx) }()
	d.say("EventBridge stream on %s and a 5s timer are driving the function", localcloud.PendingQueue)

	if err := d.waitForVerdicts(ctx, cloud, tasks); err != nil {
		return err
	}
	stop()
	d.printMessages(cloud, tasks)
	st := fn.Stats()
	dl := cloud.MNS.Stats(localcloud.DeadLetterQueue)
	var tally []string
	for _, chat := range cloud.Chats() {
		tally = append(tally, fmt.Sprintf("%s %d message(s)", chat.Service, len(chat.Letters())))
	}
	fmt.Fprintf(d.out, "\nall %d tasks reached their verdict in %.1fs: %d invocations, %d cold start(s), %d message(s) dead-lettered, %s\n",
		len(tasks), time.Since(d.start).Seconds(), st.Invocations, st.ColdStarts, dl.Active+dl.Delayed+dl.Inactive, strings.Join(tally, ", "))
	return nil
}

// letterAbout is the message on chat that names taskID.
func letterAbout(chat localcloud.Chat, taskID string) (localcloud.Letter, bool) {
	for _, l := range chat.Letters() {
		if strings.Contains(l.Text, taskID) {
			return l, true
		}
	}
	return localcloud.Letter{}, false
}

// waitForVerdicts waits until every chat emulator holds a verdict for
// every seeded task.
func (d *demo) waitForVerdicts(ctx context.Context, cloud *localcloud.Cloud, tasks []demoTask) error {
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		missing := 0
		for _, t := range tasks {
			for _, chat := range cloud.Chats() {
				if _, ok := letterAbout(chat, t.task.TaskID); !ok {
					missing++
					break
				}
			}
		}
		if missing == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%d of %d tasks still lack a verdict on some chat: %w", missing, len(tasks), ctx.Err())
		case <-tick.C:
		}
	}
}

func (d *demo) printMessages(cloud *localcloud.Cloud, tasks []demoTask) {
	for _, t := range tasks {
		for _, chat := range cloud.Chats() {
			l, _ := letterAbout(chat, t.task.TaskID)
			l.Print(d.out, l.Where+" — "+t.task.Label)
		}
	}
}

// logLine is the part of the function's JSON log the demo follows.
type logLine struct {
	Msg       string           `json:"msg"`
	TaskID    string           `json:"taskId"`
	Attempt   int              `json:"attempt"`
	Decision  string           `json:"decision"`
	Verdict   precheck.Verdict `json:"verdict"`
	Progress  int              `json:"progress"`
	Delay     string           `json:"delay"`
	Channel   string           `json:"channel"`
	Task      string           `json:"task"`
	Reason    string           `json:"reason"`
	Trigger   handler.Trigger  `json:"trigger"`
	Received  int              `json:"received"`
	MessageID string           `json:"messageId"`
}

// follow turns the function's log into progress lines.
func (d *demo) follow(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		line := sc.Bytes()
		if d.showLogs {
			d.say("log %s", line)
		}
		var l logLine
		if len(line) == 0 || line[0] != '{' || json.Unmarshal(line, &l) != nil {
			continue
		}
		name := d.labels[l.TaskID]
		switch l.Msg {
		case "task decided":
			if l.Decision == "finish" {
				d.say("%-22s %-20s attempt %d  verdict %s", l.TaskID, name, l.Attempt, l.Verdict)
			} else {
				d.say("%-22s %-20s attempt %d  progress %3d%%  next check in %s", l.TaskID, name, l.Attempt, l.Progress, l.Delay)
			}
		case "notified":
			d.say("%-22s %-20s posted to %s", l.Task, d.labels[l.Task], l.Channel)
		case "message dead-lettered":
			d.say("message %s dead-lettered: %s", l.MessageID, l.Reason)
		case "invocation done":
			if l.Received > 0 {
				d.say("invocation by %s trigger handled %d message(s)", l.Trigger, l.Received)
			}
		}
	}
}

// lookup serves config.Load from name/value pairs.
func lookup(env [][2]string) func(string) string {
	m := map[string]string{}
	for _, kv := range env {
		m[kv[0]] = kv[1]
	}
	return func(k string) string { return m[k] }
}
