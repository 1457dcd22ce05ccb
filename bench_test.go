package main

import (
	"bytes"
	"context"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"precheckwatch/handler"
	"precheckwatch/localcloud/securitycenter"
	"precheckwatch/notify"
	"precheckwatch/precheck"
)

// benchKeys are the figures of the bench: line, in order (SPEC §9).
var benchKeys = []string{"tasks", "seconds", "tasks_per_s", "ideal_ratio", "requests_per_task", "peak_rss_mb", "cold_start_ms", "hello_cold_start_ms"}

// parseBenchLine reads a bench: line into its figures, failing on any
// other shape.
func parseBenchLine(t *testing.T, line string) map[string]float64 {
	t.Helper()
	rest, ok := strings.CutPrefix(line, "bench: ")
	if !ok {
		t.Fatalf("line %q does not start with \"bench: \"", line)
	}
	fields := strings.Fields(rest)
	if len(fields) != len(benchKeys) {
		t.Fatalf("line %q has %d figures, want %d", line, len(fields), len(benchKeys))
	}
	out := map[string]float64{}
	for i, f := range fields {
		k, v, ok := strings.Cut(f, "=")
		if !ok || k != benchKeys[i] {
			t.Fatalf("figure %d of %q is %q, want %s=…", i, line, f, benchKeys[i])
		}
		n, err := strconv.ParseFloat(v, 64)
		if err != nil {
			t.Fatalf("figure %s=%q is not a number", k, v)
		}
		out[k] = n
	}
	return out
}

// The bench command's code path on a small queue: it must hand on every
// task and print one line with every figure. Timings are only checked to
// be figures; the request count is a count, and is held to the target.
func TestBenchLine(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the peak RSS figure is read from Linux's /proc")
	}
	for _, tc := range []struct {
		name    string
		running float64
		// wantRequests is the exact count for 50 tasks: 50 queries, 4
		// batch receives, 4 batch deletes, and one digest on each channel
		// (50 short tasks fit in one page); running tasks add one batch
		// send of the requeued ones.
		wantRequests int
	}{
		{"all finished", 0, 50 + 4 + 4 + 2*1},
		{"a fifth still running", 0.2, 50 + 4 + 4 + 1 + 2*1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			cfg := benchConfig{Tasks: 50, Latency: time.Millisecond, Concurrency: 16, MemoryMB: 128, Timeout: 30 * time.Second,
				Trigger: handler.TimerTrigger, Running: tc.running, Batch: 16, ColdStarts: 1, Binary: functionBinary,
				Channels: []string{"slack", "dingtalk"}}
			if err := cfg.validate(); err != nil {
				t.Fatal(err)
			}
			var progress bytes.Buffer
			res, err := runBenchmark(ctx, cfg, &progress)
			if err != nil {
				t.Fatalf("bench: %v\nprogress:\n%s", err, progress.String())
			}
			if res.Requests != tc.wantRequests {
				t.Errorf("the function made %d requests, want %d\nprogress:\n%s", res.Requests, tc.wantRequests, progress.String())
			}
			figures := parseBenchLine(t, res.line())
			if figures["tasks"] != 50 {
				t.Errorf("tasks=%v, want 50", figures["tasks"])
			}
			if q := figures["requests_per_task"]; q > 1.3 {
				t.Errorf("requests_per_task=%v, over the 1.3 target", q)
			}
			for _, k := range []string{"seconds", "tasks_per_s", "ideal_ratio", "peak_rss_mb", "cold_start_ms", "hello_cold_start_ms"} {
				if figures[k] <= 0 {
					t.Errorf("%s=%v, want a positive figure", k, figures[k])
				}
			}
		})
	}
}

func TestBenchFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want int
	}{
		{[]string{"--tasks", "0"}, exitUsage},
		{[]string{"--trigger", "http"}, exitUsage},
		{[]string{"--channels", "email"}, exitUsage},
		{[]string{"--running", "1.5"}, exitUsage},
		{[]string{"--memory-mb", "64"}, exitUsage},
		{[]string{"--memory-mb", "200"}, exitUsage},
		{[]string{"--help"}, exitOK},
	} {
		var stdout, stderr bytes.Buffer
		if got := runBench(context.Background(), tc.args, &stdout, &stderr); got != tc.want {
			t.Errorf("bench %v exited %d, want %d; stderr: %s", tc.args, got, tc.want, stderr.String())
		}
		if stdout.Len() != 0 {
			t.Errorf("bench %v printed %q to stdout", tc.args, stdout.String())
		}
	}
}

// The default rate limit never binds; a low one sets the ideal bound, and
// so do the chat services' paces for the messages sent.
func TestBenchIdealBound(t *testing.T) {
	for _, tc := range []struct {
		rate        float64
		slack, ding int
		want        time.Duration
	}{
		{0, 1, 1, 3125 * time.Millisecond},    // 1000 × 50ms / 16
		{100, 1, 1, 10 * time.Second},         // 1000 / 100 a second
		{1000, 1, 1, 3125 * time.Millisecond}, // above 16 / 50ms = 320 a second
		{0, 18, 18, 51 * time.Second},         // 17 DingTalk messages after the first, 3 s apart
		{0, 9, 0, 8 * time.Second},            // Slack alone: 1 s apart
	} {
		cfg := benchConfig{Tasks: 1000, Latency: 50 * time.Millisecond, Concurrency: 16, RateLimit: tc.rate, MemoryMB: 128,
			Timeout: time.Minute, Trigger: handler.TimerTrigger, Batch: 16, ColdStarts: 1}
		if err := cfg.validate(); err != nil {
			t.Fatal(err)
		}
		if got := cfg.idealBound(cfg.Tasks, tc.slack, tc.ding); got != tc.want {
			t.Errorf("rate %g: ideal %s, want %s", tc.rate, got, tc.want)
		}
	}
}

// benchTask is a task message as a producer enqueues it, and what Security
// Center answers for it once done: a SQL Server precheck with a warning.
func benchTask(b *testing.B) ([]byte, precheck.Status) {
	b.Helper()
	task := precheck.Task{TaskID: "t-000bc9nqwxsbyvod0002", UniRegionID: "cn-hangzhou", InstanceUUID: "ebc895506c6911ed800000163e0e0002",
		DatabaseType: "MSSQL", Label: "billing-sql prod"}
	body, err := task.Encode()
	if err != nil {
		b.Fatal(err)
	}
	result := securitycenter.ResultJSON(securitycenter.Check(securitycenter.SourceMSSQL, "i-bp1billing002", time.Unix(1700000000, 0),
		map[string]string{"SQL_SERVER_DB_IN_SIMPLE_RECOVERY_MODE": securitycenter.Warning}))
	return body, precheck.Status{Progress: 100, Description: precheck.DescCompleted, Result: result}
}

var benchPolicy = precheck.Policy{BackoffInitial: 15 * time.Second, BackoffMax: 5 * time.Minute, Deadline: 2 * time.Hour}

func BenchmarkParseTask(b *testing.B) {
	body, _ := benchTask(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := precheck.ParseTask(body); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecide(b *testing.B) {
	body, st := benchTask(b)
	task, err := precheck.ParseTask(body)
	if err != nil {
		b.Fatal(err)
	}
	now := time.Unix(1700000100, 0)
	b.ReportAllocs()
	for b.Loop() {
		if d := precheck.Decide(task, st, now, benchPolicy, 0.5); d.Action != precheck.Finish {
			b.Fatalf("decision %v, want finish", d.Action)
		}
	}
}

func BenchmarkRenderVerdict(b *testing.B) {
	body, st := benchTask(b)
	task, err := precheck.ParseTask(body)
	if err != nil {
		b.Fatal(err)
	}
	d := precheck.Decide(task, st, time.Unix(1700000100, 0), benchPolicy, 0.5)
	b.ReportAllocs()
	for b.Loop() {
		m := notify.RenderVerdict(d.Task, *d.Task.Final, notify.RenderOptions{})
		if m.DingTalk.Text == "" {
			b.Fatal("empty DingTalk text")
		}
	}
}

// BenchmarkPerTask is the CPU work one finished task costs the function:
// parse its message, decide on Security Center's answer, render its verdict.
func BenchmarkPerTask(b *testing.B) {
	body, st := benchTask(b)
	now := time.Unix(1700000100, 0)
	b.ReportAllocs()
	for b.Loop() {
		task, err := precheck.ParseTask(body)
		if err != nil {
			b.Fatal(err)
		}
		d := precheck.Decide(task, st, now, benchPolicy, 0.5)
		m := notify.RenderVerdict(d.Task, *d.Task.Final, notify.RenderOptions{})
		if m.Slack.Text == "" {
			b.Fatalf("empty Slack text for %s", d.Task.TaskID)
		}
	}
}
