package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"precheckwatch/localcloud/securitycenter"
	"precheckwatch/precheck"
)

// With MESSAGE_LANG=zh every channel gets the verdict in Chinese, once,
// and the robots that check keywords take it (they are set to "precheck"
// and "预检查", as the README says); SLACK_LANG keeps Slack in English.
func TestChineseVerdictsEndToEnd(t *testing.T) {
	r := newRig(t, [2]string{"MESSAGE_LANG", "zh"}, [2]string{"SLACK_LANG", "en"})
	task := precheck.Task{TaskID: "t-zh-0001", UniRegionID: "cn-hangzhou", DatabaseType: "ORACLE", Label: "erp-oracle"}
	r.seed(task, securitycenter.Task{Polls: []int{100}, Result: securitycenter.ResultJSON(
		securitycenter.Check("ORACLE", "i-zh", time.Now(), map[string]string{"ARCHIVELOG": "NOT_ARCHIVELOG"}))})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r.stream(ctx)
	r.waitPosted(30*time.Second, nil, task.TaskID)

	if p := r.Posts(task.TaskID); !postedOnce(p) {
		t.Fatalf("posted %v times, want once on each channel", p)
	}
	for _, m := range r.Cloud.DingTalk.Messages() {
		if text := m.PlainText(); !strings.Contains(text, "Oracle 归档模式") || !strings.Contains(text, "未通过") || strings.Contains(text, "passed") {
			t.Errorf("DingTalk's verdict is not in Chinese:\n%s", text)
		}
	}
	for _, m := range r.Cloud.Feishu.Messages() {
		if text := m.PlainText(); !strings.Contains(text, "Oracle 归档模式") || !strings.Contains(text, "预检查") {
			t.Errorf("Feishu's verdict is not in Chinese:\n%s", text)
		}
	}
	for _, m := range r.Cloud.Slack.Messages() {
		if text := m.PlainText(); !strings.Contains(text, "Oracle archive log mode") {
			t.Errorf("Slack's verdict is not in English:\n%s", text)
		}
	}
}
