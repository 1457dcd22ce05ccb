package main

import (
	"bytes"
	"context"
	"math"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"precheckwatch/handler"
	"precheckwatch/localcloud/bench"
	"precheckwatch/localcloud/securitycenter"
	"precheckwatch/notify"
	"precheckwatch/notify/dingtalk"
	"precheckwatch/notify/feishu"
	"precheckwatch/notify/sample"
	"precheckwatch/notify/slack"
	"precheckwatch/precheck"
)

// benchKeys are the figures of the bench: line, in order (SPEC §9).
var benchKeys = []string{"tasks", "seconds", "tasks_per_s", "ideal_ratio", "ideal_s", "requests_per_task", "redis_per_task",
	"slack_messages", "dingtalk_messages", "feishu_messages", "left_on_queue", "peak_rss_mb", "cold_start_ms", "hello_cold_start_ms"}

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
// task and print one line with every figure, whose counts agree with each
// other and with what the emulators recorded. Timings are only checked to
// be figures consistent with each other, never for speed.
func TestBenchLine(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the peak RSS figure is read from Linux's /proc")
	}
	for _, tc := range []struct {
		name       string
		trigger    handler.Trigger
		running    float64
		dedupe     string
		visibility time.Duration
		// wantRequests is the exact count for 50 tasks: 50 queries, 4
		// batch receives and 4 batch deletes for a sweep (EventBridge
		// receives and deletes the stream's messages itself), and one
		// digest on each channel (50 short tasks fit in one page);
		// running tasks add one batch send of the requeued ones.
		wantRequests int
	}{
		{"all finished", handler.TimerTrigger, 0, "memory", 0, 50 + 4 + 4 + 2*1},
		{"a fifth still running", handler.TimerTrigger, 0.2, "memory", 0, 50 + 4 + 4 + 1 + 2*1},
		{"shared redis record", handler.TimerTrigger, 0, "redis", 0, 50 + 4 + 4 + 2*1},
		{"queue with 60 s visibility", handler.TimerTrigger, 0, "memory", time.Minute, 50 + 4 + 4 + 2*1},
		{"event stream", handler.MNSTrigger, 0.2, "memory", 0, 50 + 1 + 2*1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			cfg := bench.Config{Tasks: 50, Latency: time.Millisecond, Concurrency: 16, MemoryMB: 128, Timeout: 30 * time.Second,
				Trigger: tc.trigger, Running: tc.running, Batch: 1000, ColdStarts: 1, Binary: functionBinary,
				Channels: []string{"slack", "dingtalk"}, Dedupe: tc.dedupe, Visibility: tc.visibility}
			if err := cfg.Validate(); err != nil {
				t.Fatal(err)
			}
			var progress bytes.Buffer
			res, err := bench.Run(ctx, cfg, &progress)
			if err != nil {
				t.Fatalf("bench: %v\nprogress:\n%s", err, progress.String())
			}
			if res.Requests != tc.wantRequests {
				t.Errorf("the function made %d requests, want %d\nprogress:\n%s", res.Requests, tc.wantRequests, progress.String())
			}
			f := parseBenchLine(t, res.Line())
			if f["tasks"] != 50 {
				t.Errorf("tasks=%v, want 50", f["tasks"])
			}
			for _, ch := range []string{"slack", "dingtalk"} {
				if got := f[ch+"_messages"]; got != 1 {
					t.Errorf("%s_messages=%v, want 1", ch, got)
				}
			}
			if f["feishu_messages"] != 0 {
				t.Errorf("feishu_messages=%v with Feishu not configured", f["feishu_messages"])
			}
			if f["left_on_queue"] != 0 {
				t.Errorf("left_on_queue=%v, want 0\nprogress:\n%s", f["left_on_queue"], progress.String())
			}
			if math.Abs(f["requests_per_task"]*50-float64(tc.wantRequests)) > 0.0005*50 {
				t.Errorf("requests_per_task=%v does not match %d requests", f["requests_per_task"], tc.wantRequests)
			}
			switch trips := f["redis_per_task"]; {
			case tc.dedupe == "redis" && trips == 0:
				t.Errorf("redis_per_task=0 with a Redis record")
			case tc.dedupe == "memory" && trips != 0:
				t.Errorf("redis_per_task=%v without Redis", trips)
			}
			// The ideal recomputed from the line's own counts: here the
			// latency term, since one message per channel costs no pace:
			// a receive, ⌈50 / 16⌉ rounds of queries and a delete, 1 ms each.
			if want := (1 + 4 + 1) * 0.001; f["ideal_s"] != want {
				t.Errorf("ideal_s=%v, want %v", f["ideal_s"], want)
			}
			// seconds and ideal_ratio are printed to 0.001, tasks_per_s to
			// 0.1: the products agree to that rounding.
			if math.Abs(f["ideal_ratio"]*f["ideal_s"]-f["seconds"]) > 0.0005*(1+f["ideal_s"]) ||
				math.Abs(f["tasks_per_s"]*f["seconds"]-50) > 0.0005*f["tasks_per_s"]+0.05*f["seconds"] {
				t.Errorf("ratios do not agree with seconds=%v ideal_s=%v: %s", f["seconds"], f["ideal_s"], res.Line())
			}
			for _, k := range []string{"seconds", "peak_rss_mb", "cold_start_ms", "hello_cold_start_ms"} {
				if f[k] <= 0 {
					t.Errorf("%s=%v, want a positive figure", k, f[k])
				}
			}
		})
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

var benchPolicy = precheck.Policy{BackoffInitial: 15 * time.Second, BackoffMax: 5 * time.Minute, Deadline: 2 * time.Hour, UnknownGrace: 10 * time.Minute}

// benchFacts are a task's facts after Security Center answered st at now,
// first seen a minute before.
func benchFacts(task precheck.Task, st precheck.Status, now time.Time) precheck.Facts {
	return precheck.Facts{Task: task, FirstSeen: now.Add(-time.Minute), Reply: precheck.Answer(st), Now: now, Jitter: 0.5}
}

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
		if f := precheck.Decide(benchFacts(task, st, now), benchPolicy); f.Action != precheck.Deliver {
			b.Fatalf("fate %v, want deliver", f.Action)
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
		f := precheck.Decide(benchFacts(task, st, now), benchPolicy)
		m := slack.Renderer{}.Verdict(f.Task, *f.Outcome)
		if m.Content.(slack.Content).Text == "" {
			b.Fatalf("empty Slack text for %s", f.Task.TaskID)
		}
	}
}

// BenchmarkDigestPages is the work of laying 1,000 finished tasks out as
// digest pages on each channel, which a courier does whenever it looks
// for full pages.
func BenchmarkDigestPages(b *testing.B) {
	vs, err := sample.Verdicts()
	if err != nil {
		b.Fatal(err)
	}
	small := sample.Small(vs)
	items := make([]notify.Finished, 1000)
	for i := range items {
		items[i] = small[i%len(small)]
		items[i].Task.TaskID = "t-bench-" + strconv.Itoa(i)
	}
	for _, r := range []struct {
		name   string
		digest func([]notify.Finished) []notify.DigestPage
	}{
		{"slack", slack.Renderer{}.Digest},
		{"dingtalk", dingtalk.Renderer{}.Digest},
		{"feishu", feishu.Renderer{}.Digest},
	} {
		b.Run(r.name, func(b *testing.B) {
			b.ReportAllocs()
			pages := 0
			for b.Loop() {
				laid := r.digest(items)
				shown := 0
				for _, p := range laid {
					shown += len(p.Tasks)
				}
				if shown != len(items) {
					b.Fatalf("the pages show %d of %d tasks", shown, len(items))
				}
				pages = len(laid)
			}
			b.ReportMetric(float64(pages), "pages")
		})
	}
}
