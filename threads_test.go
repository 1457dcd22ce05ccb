package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"precheckwatch/localcloud/securitycenter"
	"precheckwatch/precheck"
)

// With NOTIFY_STARTED, a task first seen gets a short "running" notice; its
// verdict is posted in the notice's thread and the notice is updated in
// place to show the verdict.
func TestStartedNoticeThreadsTheVerdict(t *testing.T) {
	r := newRig(t, [2]string{"NOTIFY_STARTED", "true"})
	task := precheck.Task{TaskID: "t-thread-0001", UniRegionID: "cn-hangzhou", DatabaseType: "MYSQL", Label: "threads-db"}
	r.seed(task, securitycenter.Task{Polls: []int{0, 40, 100}, Result: securitycenter.ResultJSON(
		securitycenter.Check("MYSQL", "i-threads", time.Now(), map[string]string{"MYSQL_BINLOG": "WARNING"}))})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r.stream(ctx)

	r.until(30*time.Second, "a notice and a verdict on Slack and DingTalk", func() bool {
		p := r.Posts(task.TaskID)
		return p["slack"] >= 2 && p["dingtalk"] >= 2
	}, nil)
	// The notice is updated before the invocation that posted the verdict
	// ends, and nothing more is posted once the task's message is gone.
	r.waitQuiet(10*time.Second, nil)

	msgs := r.Cloud.Slack.Messages()
	var parent, reply int = -1, -1
	for i, m := range msgs {
		if !strings.Contains(m.PlainText(), task.TaskID) {
			continue
		}
		if m.ThreadTS == "" {
			parent = i
		} else {
			reply = i
		}
	}
	if parent < 0 || reply < 0 || len(msgs) != 2 {
		t.Fatalf("want a parent notice and one thread reply, got %d messages: %+v", len(msgs), msgs)
	}
	p, rep := msgs[parent], msgs[reply]
	if rep.ThreadTS != p.TS {
		t.Errorf("verdict replies under %q, want the notice %q", rep.ThreadTS, p.TS)
	}
	if !strings.Contains(rep.PlainText(), "WARNING") || !strings.Contains(rep.PlainText(), "MYSQL_BINLOG") {
		t.Errorf("thread reply is not the verdict:\n%s", rep.PlainText())
	}
	if len(p.History) != 1 || !strings.Contains(p.PlainText(), "WARNING") {
		t.Errorf("notice not updated once with the verdict (history %d):\n%s", len(p.History), p.PlainText())
	}
	if len(p.History) == 1 && strings.Contains(p.History[0].Text, "WARNING") {
		t.Errorf("the notice said the verdict before it was known: %q", p.History[0].Text)
	}
	if d := r.Posts(task.TaskID)["dingtalk"]; d != 2 {
		t.Errorf("DingTalk got %d messages for the task, want the notice and the verdict", d)
	}
	assertNoSecrets(t, r.Output.String())
}
