// Package demo runs the whole function against an in-process local cloud:
// it seeds prechecks, enqueues them as a producer would, runs the function's
// own binary under the emulated FC runtime and EventBridge, and prints the
// progress and the messages each chat received.
package demo

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"precheckwatch/config"
	"precheckwatch/function"
	"precheckwatch/handler"
	"precheckwatch/localcloud"
	"precheckwatch/localcloud/eventbridge"
	"precheckwatch/localcloud/fcruntime"
	"precheckwatch/localcloud/rig"
	"precheckwatch/localcloud/securitycenter"
	"precheckwatch/precheck"
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
	// channels are the chats, by the name the reports give them.
	channels []string

	mu sync.Mutex // serialises output lines
}

func (d *demo) say(format string, args ...any) {
	d.mu.Lock()
	defer d.mu.Unlock()
	fmt.Fprintf(d.out, "%6.1fs  %s\n", time.Since(d.start).Seconds(), fmt.Sprintf(format, args...))
}

func (d *demo) run(ctx context.Context) error {
	binary, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find the function binary: %w", err)
	}
	// The messages' language is the demo's own (MESSAGE_LANG and the
	// per-channel overrides), as a deployment sets it.
	var langs [][2]string
	for _, name := range []string{"MESSAGE_LANG", "SLACK_LANG", "DINGTALK_LANG", "FEISHU_LANG"} {
		if v := os.Getenv(name); v != "" {
			langs = append(langs, [2]string{name, v})
		}
	}
	rc := rig.Config{
		Binary:      binary,
		Env:         append(langs, [][2]string{{"BACKOFF_INITIAL", "1s"}, {"BACKOFF_MAX", "3s"}, {"TASK_DEADLINE", "10m"}}...),
		Timeout:     30 * time.Second,
		Concurrency: 2,
	}
	if d.showLogs {
		logs, logWriter := io.Pipe()
		defer logWriter.Close()
		go d.showLog(logs)
		rc.Log = logWriter
	}
	r, err := rig.Start(ctx, rc)
	if err != nil {
		return fmt.Errorf("start the local cloud and the function under the FC runtime: %w", err)
	}
	defer r.Close()
	cloud := r.Cloud
	d.say("local cloud up: Security Center %s, MNS %s, Slack %s, DingTalk %s, Feishu %s", cloud.SASURL, cloud.MNSURL, cloud.SlackURL, cloud.DingTalkURL, cloud.FeishuURL)
	d.say("function started under the emulated FC runtime (go1, %s)", binary)
	for _, chat := range cloud.Chats() {
		d.channels = append(d.channels, chat.Name)
	}

	cfg, err := config.Load(lookup(append(cloud.Env(), langs...)))
	if err != nil {
		return err
	}
	tasks := demoTasks(time.Now())
	for _, t := range tasks {
		if err := rig.Script(cloud, t.task, t.script); err != nil {
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

	trigger := cloud.DeployedStream()
	// Half a second rather than 15 s: the demo is watched by a person.
	trigger.BatchWindow, trigger.RetryScale = 500*time.Millisecond, 0.1
	stream, err := eventbridge.NewStream(r.Fn, trigger)
	if err != nil {
		return err
	}
	timer, err := eventbridge.NewTimer(r.Fn, eventbridge.TimerConfig{Name: "sweep", Interval: 5 * time.Second})
	if err != nil {
		return err
	}
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	followed := make(chan struct{})
	go func() { d.follow(runCtx, r.Fn); close(followed) }()
	go func() { _ = stream.Run(runCtx) }()
	go func() { _ = timer.Run(runCtx) }()
	d.say("EventBridge stream on %s and a 5s timer are driving the function", localcloud.PendingQueue)

	everywhere := func() bool {
		for _, t := range tasks {
			for _, n := range r.Posts(t.task.TaskID) {
				if n == 0 {
					return false
				}
			}
		}
		return true
	}
	if err := r.Until(ctx, everywhere, nil); err != nil {
		return fmt.Errorf("not every task has its verdict on every chat: %w", err)
	}
	stop()
	<-followed
	d.printMessages(cloud, tasks)
	st := r.Fn.Stats()
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

func (d *demo) printMessages(cloud *localcloud.Cloud, tasks []demoTask) {
	for _, t := range tasks {
		for _, chat := range cloud.Chats() {
			l, _ := letterAbout(chat, t.task.TaskID)
			l.Print(d.out, l.Where+" — "+t.task.Label)
		}
	}
}

// follow turns each invocation's report into progress lines as the
// invocation ends, until ctx ends.
func (d *demo) follow(ctx context.Context, fn *fcruntime.Function) {
	for seen := 0; ; {
		recs, next := fn.Records(seen)
		seen += len(recs)
		for _, rec := range recs {
			d.report(rec)
		}
		select {
		case <-ctx.Done():
			return
		case <-next:
		}
	}
}

// report prints what one invocation did.
func (d *demo) report(rec fcruntime.Result) {
	if rec.Outcome != fcruntime.Succeeded {
		d.say("invocation %s: %s %v", rec.RequestID, rec.Outcome, rec.Error)
		return
	}
	reps := rig.Reports([]fcruntime.Result{rec})
	if len(reps) == 0 || reps[0].Received == 0 {
		return
	}
	rep := reps[0]
	d.say("invocation by %s trigger handled %d message(s)", rep.Trigger, rep.Received)
	for _, f := range rep.Tasks {
		name := d.labels[f.TaskID]
		switch f.Decision {
		case handler.Finished, handler.Redelivered:
			line := fmt.Sprintf("%-22s %-20s attempt %d  verdict %s", f.TaskID, name, f.Attempt, f.Verdict)
			if posted := d.postedTo(f.Missing); len(posted) > 0 {
				line += ", posted to " + strings.Join(posted, ", ")
			}
			if len(f.Missing) > 0 {
				line += fmt.Sprintf("; %s again in %s", strings.Join(f.Missing, ", "), f.Delay())
			}
			d.say("%s", line)
		case handler.Requeued:
			d.say("%-22s %-20s attempt %d  progress %3d%%  next check in %s", f.TaskID, name, f.Attempt, f.Progress, f.Delay())
		case handler.Held:
			d.say("%-22s %-20s held for %s", f.TaskID, name, f.Delay())
		}
	}
	for _, l := range rep.DeadLetters {
		d.say("message %s dead-lettered: %s", l.MessageID, l.Reason)
	}
}

// postedTo are the channels but those missing.
func (d *demo) postedTo(missing []string) []string {
	var out []string
	for _, ch := range d.channels {
		if !slices.Contains(missing, ch) {
			out = append(out, ch)
		}
	}
	return out
}

// showLog prints the function's log lines.
func (d *demo) showLog(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		d.say("log %s", sc.Bytes())
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
