package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"precheckwatch/internal/gobuild"
	"precheckwatch/localcloud"
	"precheckwatch/localcloud/eventbridge"
	"precheckwatch/localcloud/rig"
	"precheckwatch/localcloud/securitycenter"
	"precheckwatch/precheck"
)

// functionBinary is the function built once for every end-to-end test, as
// s.yaml deploys it: without the local cloud.
var functionBinary string

func TestMain(m *testing.M) {
	gobuild.Main(m, &functionBinary, "precheckwatch", "-tags", "nolocalcloud")
}

// testRig is a rig.Rig run by a test: the function's own binary on the
// local cloud, which fails the test when it cannot start and stops when
// the test ends, with a timer trigger to fire by hand.
type testRig struct {
	*rig.Rig
	t     *testing.T
	timer *eventbridge.Timer
}

func newRig(t *testing.T, overrides ...[2]string) *testRig {
	t.Helper()
	env := append([][2]string{
		{"BACKOFF_INITIAL", "200ms"}, {"BACKOFF_MAX", "1s"}, {"TASK_DEADLINE", "10m"}, {"LOG_LEVEL", "debug"},
	}, overrides...)
	return startRig(t, rigConfig{cloud: localcloud.Options{Seed: 7}, env: env, timeout: 20 * time.Second})
}

// rigConfig is what differs between the tests' rigs.
type rigConfig struct {
	cloud        localcloud.Options
	env          [][2]string // the function's settings beyond the cloud's
	timeout      time.Duration
	timerPayload string
	// maxInstances caps the function's instances; 0 lets it scale out as
	// FC does.
	maxInstances int
}

func startRig(t *testing.T, cfg rigConfig) *testRig {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r, err := rig.Start(ctx, rig.Config{Binary: functionBinary, Cloud: cfg.cloud, Env: cfg.env, Timeout: cfg.timeout, MaxInstances: cfg.maxInstances})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	timer, err := eventbridge.NewTimer(r.Fn, eventbridge.TimerConfig{Name: "sweep", Payload: cfg.timerPayload})
	if err != nil {
		t.Fatal(err)
	}
	return &testRig{Rig: r, t: t, timer: timer}
}

// stream starts an EventBridge stream on the pending queue.
func (r *testRig) stream(ctx context.Context) *eventbridge.Stream {
	s, err := eventbridge.NewStream(r.Fn, eventbridge.StreamConfig{
		Queue: r.Cloud.MNS, QueueName: localcloud.PendingQueue, FunctionName: "precheckwatch",
		BatchSize: 10, BatchWindow: 200 * time.Millisecond, RetryScale: 0.02,
	})
	if err != nil {
		r.t.Fatal(err)
	}
	go func() { _ = s.Run(ctx) }()
	return s
}

// seed registers a scripted task with Security Center and enqueues it.
func (r *testRig) seed(task precheck.Task, script securitycenter.Task) {
	r.t.Helper()
	if err := r.Seed(task, script); err != nil {
		r.t.Fatal(err)
	}
}

// until waits up to timeout for done, calling each (when set) between
// looks, and fails the test with what is so instead.
func (r *testRig) until(timeout time.Duration, what string, done func() bool, each func()) {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := r.Until(ctx, done, each); err != nil {
		r.t.Fatalf("%s: not so after %s; function output:\n%s", what, timeout, r.Output.Tail(4000))
	}
}

// waitPosted waits until every task has a message on every channel.
func (r *testRig) waitPosted(timeout time.Duration, each func(), taskIDs ...string) {
	r.t.Helper()
	r.until(timeout, fmt.Sprintf("a verdict on every channel for each of %v", taskIDs), func() bool {
		for _, id := range taskIDs {
			for _, n := range r.Posts(id) {
				if n == 0 {
					return false
				}
			}
		}
		return true
	}, each)
}

// waitQuiet waits until nothing more can be posted: no invocation runs and
// the pending queue is empty.
func (r *testRig) waitQuiet(timeout time.Duration, each func()) {
	r.t.Helper()
	r.until(timeout, "no invocation running and the pending queue empty", r.Quiet, each)
}

// assertNoSecrets fails if any secret of the local cloud reached the output.
func assertNoSecrets(t *testing.T, output string) {
	t.Helper()
	for _, s := range []string{localcloud.AccessKeySecret, localcloud.STSAccessKeySecret, localcloud.STSToken,
		localcloud.SlackToken, localcloud.DingTalkSecret, localcloud.DingTalkToken, "localcloudwebhooksecret",
		localcloud.FeishuToken, localcloud.FeishuSecret} {
		if strings.Contains(output, s) {
			t.Errorf("secret %q appears in the function's output", s)
		}
	}
}

// postedOnce reports whether a task's posts, by channel, show it exactly
// once on every channel.
func postedOnce(posts map[string]int) bool {
	for _, n := range posts {
		if n != 1 {
			return false
		}
	}
	return len(posts) > 0
}
