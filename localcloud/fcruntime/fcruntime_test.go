package fcruntime_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aliyun/fc-runtime-go-sdk/fccontext"

	"precheckwatch/internal/gobuild"
	"precheckwatch/internal/waitfor"
	"precheckwatch/localcloud/fcruntime"
	"precheckwatch/secret"
)

// echoBinary is testdata/echofn built by TestMain.
var echoBinary string

func TestMain(m *testing.M) {
	gobuild.Main(m, &echoBinary, "precheckwatch/localcloud/fcruntime/testdata/echofn")
}

// reply mirrors testdata/echofn's answer.
type reply struct {
	Event       json.RawMessage       `json:"event"`
	RequestID   string                `json:"requestId"`
	DeadlineMs  int64                 `json:"deadlineMs"`
	Credentials fccontext.Credentials `json:"credentials"`
	Function    fccontext.Function    `json:"function"`
	Service     fccontext.Service     `json:"service"`
	Region      string                `json:"region"`
	AccountID   string                `json:"accountId"`
	RetryCount  int                   `json:"retryCount"`
	Env         map[string]string     `json:"env"`
	PID         int                   `json:"pid"`
	StartedNs   int64                 `json:"startedNs"`
	EndedNs     int64                 `json:"endedNs"`
}

// start runs echofn under cfg and, at cleanup, closes it and checks that no
// goroutine and no process outlived Close.
func start(t *testing.T, cfg fcruntime.Config) (*fcruntime.Function, *[]int) {
	t.Helper()
	before := runtime.NumGoroutine()
	if cfg.Binary == "" {
		cfg.Binary = echoBinary
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	fn, err := fcruntime.Start(ctx, cfg)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	pids := new([]int)
	t.Cleanup(func() {
		if err := fn.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		for _, pid := range *pids {
			if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
				t.Errorf("process %d still exists after Close (kill 0: %v)", pid, err)
			}
		}
		checkGoroutines(t, before)
	})
	return fn, pids
}

// waitGone waits until the (SIGKILLed) process pid has been reaped.
func waitGone(t *testing.T, pid int) {
	t.Helper()
	if !waitfor.Condition(3*time.Second, func() bool { return syscall.Kill(pid, 0) != nil }) {
		t.Errorf("process %d is still alive", pid)
	}
}

func checkGoroutines(t *testing.T, before int) {
	t.Helper()
	if !waitfor.Condition(3*time.Second, func() bool { return runtime.NumGoroutine() <= before }) {
		buf := make([]byte, 1<<16)
		t.Errorf("%d goroutines after Close, %d before:\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
	}
}

// invoke sends event and decodes a successful reply; pids collects the
// process ids seen.
func invoke(t *testing.T, fn *fcruntime.Function, pids *[]int, event string) (fcruntime.Result, reply, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := fn.Invoke(ctx, []byte(event))
	var r reply
	if err == nil {
		if jerr := json.Unmarshal(res.Body, &r); jerr != nil {
			t.Fatalf("decode reply %s: %v", res.Body, jerr)
		}
		*pids = append(*pids, r.PID)
	}
	return res, r, err
}

func TestEveryHeaderReachesTheContext(t *testing.T) {
	var mu sync.Mutex
	issued := 0
	rotating := func() secret.Credentials {
		mu.Lock()
		defer mu.Unlock()
		issued++
		return secret.Credentials{
			AccessKeyID:     fmt.Sprintf("STS.id-%d", issued),
			AccessKeySecret: secret.Value(fmt.Sprintf("secret-%d", issued)),
			SecurityToken:   secret.Value(fmt.Sprintf("token-%d", issued)),
		}
	}
	stdout := &fcruntime.Output{}
	fn, pids := start(t, fcruntime.Config{
		FunctionName: "precheckwatch",
		ServiceName:  "svc",
		VersionID:    "3",
		Qualifier:    "prod",
		Region:       "cn-shanghai",
		AccountID:    "1888000011112222",
		MemoryMB:     256,
		Timeout:      4500 * time.Millisecond,
		Credentials:  rotating,
		Env:          []string{"ECHO_EXTRA=yes", "FC_RUNTIME_API=overridden"},
		Stdout:       stdout,
	})

	first, r1, err := invoke(t, fn, pids, `{"hello":"world"}`)
	if err != nil {
		t.Fatalf("first invoke: %v", err)
	}
	second, r2, err := invoke(t, fn, pids, `"plain"`)
	if err != nil {
		t.Fatalf("second invoke: %v", err)
	}

	checks := []struct {
		name      string
		got, want any
	}{
		{"event", string(r1.Event), `{"hello":"world"}`},
		{"request id", r1.RequestID, first.RequestID},
		{"deadline = ctx deadline", r1.DeadlineMs, first.Deadline.UnixMilli()},
		{"function name", r1.Function.Name, "precheckwatch"},
		{"handler", r1.Function.Handler, "main"},
		{"memory", r1.Function.Memory, "256"},
		{"timeout rounds up to whole seconds", r1.Function.Timeout, 5},
		{"service", r1.Service.Name, "svc"},
		{"qualifier", r1.Service.Qualifier, "prod"},
		{"version", r1.Service.VersionId, "3"},
		{"region", r1.Region, "cn-shanghai"},
		{"account", r1.AccountID, "1888000011112222"},
		{"retry count", r1.RetryCount, 0},
		// Call 1 fed the instance environment, 2 and 3 the invocations.
		{"env key id", r1.Env["ALIBABA_CLOUD_ACCESS_KEY_ID"], "STS.id-1"},
		{"env secret", r1.Env["ALIBABA_CLOUD_ACCESS_KEY_SECRET"], "secret-1"},
		{"env token", r1.Env["ALIBABA_CLOUD_SECURITY_TOKEN"], "token-1"},
		{"first key id", r1.Credentials.AccessKeyId, "STS.id-2"},
		{"first secret", r1.Credentials.AccessKeySecret, "secret-2"},
		{"first token", r1.Credentials.SecurityToken, "token-2"},
		{"rotated key id", r2.Credentials.AccessKeyId, "STS.id-3"},
		{"rotated token", r2.Credentials.SecurityToken, "token-3"},
		{"FC_REGION", r1.Env["FC_REGION"], "cn-shanghai"},
		{"FC_ACCOUNT_ID", r1.Env["FC_ACCOUNT_ID"], "1888000011112222"},
		{"FC_FUNCTION_NAME", r1.Env["FC_FUNCTION_NAME"], "precheckwatch"},
		{"FC_FUNCTION_HANDLER", r1.Env["FC_FUNCTION_HANDLER"], "main"},
		{"FC_FUNCTION_MEMORY_SIZE", r1.Env["FC_FUNCTION_MEMORY_SIZE"], "256"},
		{"FC_TIMEOUT", r1.Env["FC_TIMEOUT"], "5"},
		{"FC_RUNTIME", r1.Env["FC_RUNTIME"], "go1"},
		{"FC_INSTANCE_ID", r1.Env["FC_INSTANCE_ID"], first.InstanceID},
		{"FC_FUNC_CODE_PATH", r1.Env["FC_FUNC_CODE_PATH"], filepath.Dir(echoBinary)},
		{"FC_RUNTIME_API cannot be overridden", r1.Env["FC_RUNTIME_API"], fn.RuntimeAPI()},
		{"extra env", r1.Env["ECHO_EXTRA"], "yes"},
		{"second event", string(r2.Event), `"plain"`},
		{"same instance", r2.PID, r1.PID},
		{"first is cold", first.ColdStart, true},
		{"second is warm", second.ColdStart, false},
		{"outcome", second.Outcome, fcruntime.Succeeded},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: got %v, want %v", c.name, c.got, c.want)
		}
	}
	if d := first.Deadline.Sub(time.Unix(0, r1.StartedNs)); d <= 0 || d > 4500*time.Millisecond {
		t.Errorf("deadline %s after the handler started, want within the 4.5s timeout", d)
	}
	if r1.RequestID == r2.RequestID {
		t.Errorf("two invocations share request id %s", r1.RequestID)
	}
	// The process's output comes through a pipe, which may deliver the
	// line after the invocation's answer.
	startLine := "FC Invoke Start RequestId: " + first.RequestID
	if !waitfor.Condition(5*time.Second, func() bool { return strings.Contains(stdout.String(), startLine) }) {
		t.Errorf("stdout lacks the SDK's start line for %s:\n%s", first.RequestID, stdout.String())
	}
	s := fn.Stats()
	if s.Invocations != 2 || s.Succeeded != 2 || s.ColdStarts != 1 || len(s.ColdStartTimes) != 1 || s.ColdStartTimes[0] <= 0 {
		t.Errorf("stats %+v, want 2 invocations, 2 succeeded, 1 cold start with its time", s)
	}
	t.Logf("cold start (process start to first /invocation/next): %v", s.ColdStartTimes)
}

func TestRetryCountHeader(t *testing.T) {
	fn, pids := start(t, fcruntime.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := fn.InvokeRetry(ctx, []byte(`{}`), 2)
	if err != nil {
		t.Fatal(err)
	}
	var r reply
	if err := json.Unmarshal(res.Body, &r); err != nil {
		t.Fatal(err)
	}
	*pids = append(*pids, r.PID)
	if r.RetryCount != 2 {
		t.Errorf("retry count %d, want 2", r.RetryCount)
	}
}

func TestFunctionErrors(t *testing.T) {
	fn, pids := start(t, fcruntime.Config{})
	_, warm, err := invoke(t, fn, pids, `{}`)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		event, message, errorType string
	}{
		{`{"error":"boom"}`, "boom", "errorString"},
		{`{"panic":"oops"}`, "oops", "string"},
	} {
		t.Run(tc.event, func(t *testing.T) {
			res, _, err := invoke(t, fn, pids, tc.event)
			var fe *fcruntime.FunctionError
			if !errors.As(err, &fe) {
				t.Fatalf("error %v, want a *FunctionError", err)
			}
			if res.Outcome != fcruntime.Failed || res.Error == nil {
				t.Fatalf("outcome %v, error %v, want failed with a body", res.Outcome, res.Error)
			}
			if fe.Message != tc.message || fe.Type != tc.errorType {
				t.Errorf("got %s/%q, want %s/%q (body %s)", fe.Type, fe.Message, tc.errorType, tc.message, res.Body)
			}
		})
	}
	// The SDK recovers panics: the instance lives on.
	_, after, err := invoke(t, fn, pids, `{}`)
	if err != nil {
		t.Fatal(err)
	}
	if after.PID != warm.PID {
		t.Errorf("instance changed after function errors: pid %d, then %d", warm.PID, after.PID)
	}
	if s := fn.Stats(); s.Failed != 2 || s.ColdStarts != 1 {
		t.Errorf("stats %+v, want 2 failed on one instance", s)
	}
}

func TestTimeoutKillsTheInstance(t *testing.T) {
	fn, pids := start(t, fcruntime.Config{Timeout: 400 * time.Millisecond})
	_, before, err := invoke(t, fn, pids, `{}`)
	if err != nil {
		t.Fatal(err)
	}
	res, _, err := invoke(t, fn, pids, `{"sleep":"30s","ignoreContext":true}`)
	if !errors.Is(err, fcruntime.ErrTimeout) || res.Outcome != fcruntime.TimedOut {
		t.Fatalf("got %v / %v, want a timeout", res.Outcome, err)
	}
	waitGone(t, before.PID)
	next, after, err := invoke(t, fn, pids, `{}`)
	if err != nil {
		t.Fatalf("invoke after the timeout: %v", err)
	}
	if after.PID == before.PID || !next.ColdStart {
		t.Errorf("invocation after the timeout ran on pid %d (cold %v), want a fresh instance (old pid %d)", after.PID, next.ColdStart, before.PID)
	}
	if s := fn.Stats(); s.TimedOut != 1 || s.Kills != 1 || s.ColdStarts != 2 || len(s.ColdStartTimes) != 2 {
		t.Errorf("stats %+v, want 1 timeout, 1 kill, 2 cold starts", s)
	}
}

func TestCrashAndKillFailTheInvocation(t *testing.T) {
	for _, tc := range []struct {
		name  string
		event string
		kill  bool
		kills int
	}{
		{"process exits", `{"exit":3}`, false, 0},
		{"Kill mid-invocation", `{"sleep":"30s","ignoreContext":true}`, true, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fn, pids := start(t, fcruntime.Config{Timeout: 20 * time.Second})
			_, before, err := invoke(t, fn, pids, `{}`)
			if err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			var res fcruntime.Result
			go func() {
				var err error
				res, err = fn.Invoke(context.Background(), []byte(tc.event))
				done <- err
			}()
			if tc.kill {
				if !waitfor.Condition(10*time.Second, func() bool { return fn.Stats().Invocations >= 2 }) {
					t.Fatal("the second invocation never started")
				}
				if !fn.Kill() {
					t.Fatal("Kill found no live instance")
				}
			}
			if err := <-done; !errors.Is(err, fcruntime.ErrInstanceDied) || res.Outcome != fcruntime.InstanceDied {
				t.Fatalf("got %v / %v, want instance died", res.Outcome, err)
			}
			_, after, err := invoke(t, fn, pids, `{}`)
			if err != nil {
				t.Fatalf("invoke after the crash: %v", err)
			}
			if after.PID == before.PID {
				t.Errorf("invocation after the crash ran on the dead instance %d", before.PID)
			}
			if s := fn.Stats(); s.InstanceDied != 1 || s.Kills != tc.kills || s.ColdStarts != 2 {
				t.Errorf("stats %+v, want 1 died, %d kills, 2 cold starts", s, tc.kills)
			}
		})
	}
}

// span is one invocation as the function saw it, from and to in Unix
// nanoseconds: in milliseconds, invocations that meet at a barrier at once
// can start and end within the same millisecond and seem not to overlap.
type span struct {
	pid, from, to int64
	instance      string
}

// invokeAll runs n invocations of event at once and returns their spans.
func invokeAll(t *testing.T, fn *fcruntime.Function, pids *[]int, n int, event string) []span {
	t.Helper()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var spans []span
	for range n {
		wg.Go(func() {
			res, err := fn.Invoke(context.Background(), []byte(event))
			if err != nil {
				t.Errorf("%v: %s", err, res.Body)
				return
			}
			var r reply
			if err := json.Unmarshal(res.Body, &r); err != nil {
				t.Error(err)
				return
			}
			if r.Env["FC_INSTANCE_ID"] != res.InstanceID {
				t.Errorf("instance %s answered with FC_INSTANCE_ID %q", res.InstanceID, r.Env["FC_INSTANCE_ID"])
			}
			mu.Lock()
			spans = append(spans, span{int64(r.PID), r.StartedNs, r.EndedNs, res.InstanceID})
			*pids = append(*pids, r.PID)
			mu.Unlock()
		})
	}
	wg.Wait()
	return spans
}

func TestScaleOut(t *testing.T) {
	for _, tc := range []struct {
		name                  string
		cfg                   fcruntime.Config
		invocations           int
		event                 func(t *testing.T) string
		wantInstances         int // started
		wantPeakInFlight      int
		overlapOnSameInstance bool
	}{
		{
			name: "busy instances make another, one invocation each", cfg: fcruntime.Config{MaxInstances: 3}, invocations: 3,
			event: func(t *testing.T) string {
				return fmt.Sprintf(`{"barrier":%q,"parties":3}`, t.TempDir()) // all three must run at once
			},
			wantInstances: 3, wantPeakInFlight: 3,
		},
		{
			name: "the cap makes invocations wait for a free instance", cfg: fcruntime.Config{MaxInstances: 2}, invocations: 6,
			event:         func(*testing.T) string { return `{"sleep":"60ms"}` },
			wantInstances: 2, wantPeakInFlight: 2,
		},
		{
			name: "one instance serves one invocation at a time", cfg: fcruntime.Config{MaxInstances: 1}, invocations: 3,
			event:         func(*testing.T) string { return `{"sleep":"50ms"}` },
			wantInstances: 1, wantPeakInFlight: 1,
		},
		{
			name: "instanceConcurrency 3 shares one instance", cfg: fcruntime.Config{Concurrency: 3, MaxInstances: 1}, invocations: 3,
			event: func(t *testing.T) string {
				return fmt.Sprintf(`{"barrier":%q,"parties":3}`, t.TempDir())
			},
			wantInstances: 1, wantPeakInFlight: 3, overlapOnSameInstance: true,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.Timeout = 10 * time.Second
			fn, pids := start(t, tc.cfg)
			spans := invokeAll(t, fn, pids, tc.invocations, tc.event(t))
			sawOverlap := false
			for i, a := range spans {
				for _, b := range spans[i+1:] {
					if a.instance == b.instance && a.from < b.to && b.from < a.to {
						sawOverlap = true
						if !tc.overlapOnSameInstance {
							t.Errorf("instance %s ran two invocations at once: %v and %v", a.instance, a, b)
						}
					}
				}
			}
			if tc.overlapOnSameInstance && !sawOverlap {
				t.Error("no invocations shared the instance at once")
			}
			instances := map[string]bool{}
			for _, sp := range spans {
				instances[sp.instance] = true
			}
			s := fn.Stats()
			if s.ColdStarts != tc.wantInstances || len(instances) != tc.wantInstances || s.PeakInstances != tc.wantInstances {
				t.Errorf("%d instances served, stats %+v; want %d started", len(instances), s, tc.wantInstances)
			}
			if s.PeakInFlight != tc.wantPeakInFlight {
				t.Errorf("peak in flight %d, want %d", s.PeakInFlight, tc.wantPeakInFlight)
			}
		})
	}
}

func TestIdleInstancesAreReclaimed(t *testing.T) {
	fn, pids := start(t, fcruntime.Config{MaxInstances: 2, IdleTimeout: 200 * time.Millisecond, Timeout: 10 * time.Second})
	invokeAll(t, fn, pids, 2, fmt.Sprintf(`{"barrier":%q,"parties":2}`, t.TempDir()))
	if n := fn.Instances(); n != 2 {
		t.Fatalf("%d instances after two concurrent invocations, want 2", n)
	}
	for _, pid := range *pids {
		waitGone(t, pid)
	}
	if n := fn.Instances(); n != 0 {
		t.Errorf("%d instances alive after their idle timeout, want 0", n)
	}
	res, _, err := invoke(t, fn, pids, `{}`)
	if err != nil {
		t.Fatalf("invoke after the reclaim: %v", err)
	}
	if !res.ColdStart {
		t.Error("invocation after the reclaim was not a cold start")
	}
	if s := fn.Stats(); s.Reclaimed != 2 || s.Kills != 0 || s.ColdStarts != 3 {
		t.Errorf("stats %+v, want 2 reclaimed, no kills, 3 cold starts", s)
	}
}

func TestRuntimeAPIRejectsBadRequests(t *testing.T) {
	fn, pids := start(t, fcruntime.Config{})
	base := "http://" + fn.RuntimeAPI() + "/2020-11-11/runtime/invocation/"
	for _, tc := range []struct {
		method, path string
		want         int
	}{
		{http.MethodPost, "1-unknown/response", http.StatusNotFound},
		{http.MethodPost, "1-unknown/error", http.StatusNotFound},
		{http.MethodPost, "1-unknown/other", http.StatusNotFound},
		{http.MethodPost, "/response", http.StatusNotFound},
		{http.MethodGet, "1-unknown/response", http.StatusMethodNotAllowed},
		{http.MethodPost, "next", http.StatusMethodNotAllowed},
		{http.MethodGet, "../../init/error", http.StatusNotFound},
	} {
		req, err := http.NewRequest(tc.method, base+tc.path, strings.NewReader(`{}`))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", tc.method, tc.path, err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("%s %s: status %d, want %d", tc.method, tc.path, resp.StatusCode, tc.want)
		}
	}
	// A /next whose client leaves must not take the next invocation.
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"next", nil)
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		t.Errorf("/next answered %d with no work queued", resp.StatusCode)
	}
	cancel()
	if _, _, err := invoke(t, fn, pids, `{}`); err != nil {
		t.Errorf("invoke after an abandoned /next: %v", err)
	}
	http.DefaultClient.CloseIdleConnections()
}

func TestStartFailures(t *testing.T) {
	dir := t.TempDir()
	notExec := filepath.Join(dir, "main")
	if err := os.WriteFile(notExec, []byte("#!/bin/sh\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	exitsAtOnce := filepath.Join(dir, "exits")
	if err := os.WriteFile(exitsAtOnce, []byte("#!/bin/sh\necho bad config >&2\nexit 1\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	never := filepath.Join(dir, "never")
	if err := os.WriteFile(never, []byte("#!/bin/sh\nexec sleep 30\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		cfg  fcruntime.Config
		want string
	}{
		{"no binary", fcruntime.Config{}, "Binary is required"},
		{"missing binary", fcruntime.Config{Binary: filepath.Join(dir, "absent")}, "no such file"},
		{"not executable", fcruntime.Config{Binary: notExec}, "not an executable"},
		{"bad concurrency", fcruntime.Config{Binary: echoBinary, Concurrency: 201}, "Concurrency 201"},
		{"bad timeout", fcruntime.Config{Binary: echoBinary, Timeout: -time.Second}, "Timeout"},
		{"exits before asking for work", fcruntime.Config{Binary: exitsAtOnce}, "exit status 1"},
		{"never asks for work", fcruntime.Config{Binary: never, StartTimeout: 200 * time.Millisecond}, "no /invocation/next within 200ms"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := runtime.NumGoroutine()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			fn, err := fcruntime.Start(ctx, tc.cfg)
			if err == nil {
				fn.Close()
				t.Fatal("Start succeeded")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q, want it to mention %q", err, tc.want)
			}
			checkGoroutines(t, before)
		})
	}
}

func TestInvokeAfterCloseAndOversizedEvent(t *testing.T) {
	fn, _ := start(t, fcruntime.Config{})
	if _, err := fn.Invoke(context.Background(), make([]byte, fcruntime.MaxSyncPayloadBytes+1)); !errors.Is(err, fcruntime.ErrEntityTooLarge) {
		t.Errorf("oversized event: %v, want ErrEntityTooLarge", err)
	}
	fn.Close()
	if _, err := fn.Invoke(context.Background(), []byte(`{}`)); !errors.Is(err, fcruntime.ErrClosed) {
		t.Errorf("invoke after Close: %v, want ErrClosed", err)
	}
}

// TestKillAtRandomMoments is the chaos test's view: whenever the instance
// is killed, every invocation ends, as a success or as InstanceDied, and
// the function keeps serving.
func TestKillAtRandomMoments(t *testing.T) {
	fn, pids := start(t, fcruntime.Config{Concurrency: 2, Timeout: 10 * time.Second})
	const invocations = 24
	outcomes := make(chan fcruntime.Outcome, invocations)
	errs := make(chan error, invocations)
	var wg sync.WaitGroup
	for i := range invocations {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			res, err := fn.Invoke(ctx, []byte(fmt.Sprintf(`{"sleep":"%dms"}`, 5+i%4*5)))
			if err != nil && !errors.Is(err, fcruntime.ErrInstanceDied) {
				errs <- err
			}
			outcomes <- res.Outcome
		})
	}
	stopKilling := make(chan struct{})
	killer := make(chan struct{})
	go func() {
		defer close(killer)
		for i := 0; ; i++ {
			select {
			case <-stopKilling:
				return
			case <-time.After(time.Duration(3+i%5*4) * time.Millisecond):
				fn.Kill()
			}
		}
	}()
	wg.Wait()
	close(stopKilling)
	<-killer
	close(outcomes)
	close(errs)
	for err := range errs {
		t.Errorf("unexpected error: %v", err)
	}
	counts := map[fcruntime.Outcome]int{}
	for o := range outcomes {
		counts[o]++
	}
	if counts[fcruntime.Succeeded]+counts[fcruntime.InstanceDied] != invocations {
		t.Errorf("outcomes %v, want only succeeded and instance died", counts)
	}
	s := fn.Stats()
	if s.Succeeded != counts[fcruntime.Succeeded] || s.InstanceDied != counts[fcruntime.InstanceDied] {
		t.Errorf("stats %+v disagree with outcomes %v", s, counts)
	}
	if _, r, err := invoke(t, fn, pids, `{}`); err != nil {
		t.Errorf("invoke after the chaos: %v", err)
	} else if r.PID == 0 {
		t.Error("no pid in the reply")
	}
	t.Logf("outcomes %v, kills %d, cold starts %d", counts, s.Kills, s.ColdStarts)
}

// Every invocation that ends leaves a record, whoever waited for it: one
// the caller stopped waiting for is recorded when it ends, and a reader of
// the records is woken by each new one.
func TestRecordsKeepEveryInvocation(t *testing.T) {
	fn, pids := start(t, fcruntime.Config{Timeout: 2 * time.Second})
	if recs, _ := fn.Records(0); len(recs) != 0 {
		t.Fatalf("records before any invocation: %+v", recs)
	}
	first, _, err := invoke(t, fn, pids, `{"n":1}`)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := invoke(t, fn, pids, `{"error":"boom"}`); err == nil {
		t.Fatal("want a function error")
	}
	_, woken := fn.Records(2)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if res, _ := fn.Invoke(ctx, []byte(`{"sleep":"300ms"}`)); res.Outcome != fcruntime.Pending {
		t.Fatalf("the caller stopped waiting, yet the outcome is %v", res.Outcome)
	}
	select {
	case <-woken:
	case <-time.After(5 * time.Second):
		t.Fatal("no record of the invocation the caller stopped waiting for")
	}
	recs, _ := fn.Records(0)
	if len(recs) != 3 {
		t.Fatalf("%d records, want 3: %+v", len(recs), recs)
	}
	if recs[0].RequestID != first.RequestID || recs[0].Outcome != fcruntime.Succeeded || !bytes.Equal(recs[0].Body, first.Body) {
		t.Errorf("first record %+v, want the answer %s", recs[0], first.Body)
	}
	if recs[1].Outcome != fcruntime.Failed || recs[1].Error == nil || recs[1].Error.Message != "boom" {
		t.Errorf("second record %+v, want the function error", recs[1])
	}
	if recs[2].Outcome != fcruntime.Succeeded || !strings.Contains(string(recs[2].Body), "300ms") {
		t.Errorf("third record %+v, want the slow invocation's answer", recs[2])
	}
	if rest, _ := fn.Records(2); len(rest) != 1 || rest[0].RequestID != recs[2].RequestID {
		t.Errorf("records from 2: %+v, want the last one", rest)
	}
	if st := fn.Stats(); st.InFlight != 0 {
		t.Errorf("%d invocations in flight after all ended", st.InFlight)
	}
}
