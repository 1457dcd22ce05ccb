package eventbridge_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aliyun/fc-runtime-go-sdk/events"

	"precheckwatch/internal/gobuild"
	"precheckwatch/internal/waitfor"
	"precheckwatch/localcloud/eventbridge"
	"precheckwatch/localcloud/fcruntime"
	"precheckwatch/localcloud/mns"
)

// echoBinary is fcruntime's testdata/echofn, built by TestMain.
var echoBinary string

func TestMain(m *testing.M) {
	gobuild.Main(m, &echoBinary, "precheckwatch/localcloud/fcruntime/testdata/echofn")
}

// reply is the part of echofn's answer these tests read.
type reply struct {
	Event  json.RawMessage        `json:"event"`
	MNS    []events.MnsQueueEvent `json:"mns"`
	Timer  *events.TimerEvent     `json:"timer"`
	Bodies []string               `json:"bodies"`
}

// push is one invocation the function received, and what came of it.
type push struct {
	event      []byte
	retryCount int
	at, done   time.Time // when it was made, and when it returned
	reply      reply
	err        error
}

// recorder passes invocations to the real function and keeps a log of
// them.
type recorder struct {
	fn    *fcruntime.Function
	mu    sync.Mutex
	calls []push
}

func (r *recorder) Invoke(ctx context.Context, event []byte) (fcruntime.Result, error) {
	return r.InvokeRetry(ctx, event, 0)
}

func (r *recorder) InvokeRetry(ctx context.Context, event []byte, retryCount int) (fcruntime.Result, error) {
	at := time.Now()
	res, err := r.fn.InvokeRetry(ctx, event, retryCount)
	p := push{event: event, retryCount: retryCount, at: at, done: time.Now(), err: err}
	if err == nil {
		if jerr := json.Unmarshal(res.Body, &p.reply); jerr != nil {
			p.err = fmt.Errorf("decode reply %s: %w", res.Body, jerr)
		}
	}
	r.mu.Lock()
	r.calls = append(r.calls, p)
	r.mu.Unlock()
	return res, err
}

func (r *recorder) pushes() []push {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.calls)
}

func startFunction(t *testing.T) *recorder {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	fn, err := fcruntime.Start(ctx, fcruntime.Config{
		Binary: echoBinary, FunctionName: "precheckwatch", Region: "cn-shanghai",
		AccountID: "1888000011112222", Timeout: 10 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fn.Close() })
	return &recorder{fn: fn}
}

func newQueues(t *testing.T, names ...string) *mns.Server {
	t.Helper()
	srv := mns.New(mns.Config{})
	for _, name := range names {
		if err := srv.CreateQueue(name, mns.QueueAttributes{}); err != nil {
			t.Fatal(err)
		}
	}
	return srv
}

// runStream runs the stream until done reports true (or 10 s pass) and
// waits for Run to return.
func runStream(t *testing.T, s *eventbridge.Stream, done func() bool) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan error, 1)
	go func() { stopped <- s.Run(ctx) }()
	if !waitfor.Condition(10*time.Second, done) {
		t.Errorf("stream did not finish; stats %+v", s.Stats())
	}
	cancel()
	if err := <-stopped; err != nil {
		t.Errorf("Run: %v", err)
	}
}

func queueEmpty(srv *mns.Server, queue string) func() bool {
	return func() bool { return len(srv.Messages(queue)) == 0 }
}

func fastConfig(srv *mns.Server) eventbridge.StreamConfig {
	return eventbridge.StreamConfig{
		Queue: srv, QueueName: "tasks", FunctionName: "precheckwatch", TriggerName: "mnsTrigger",
		Region: "cn-shanghai", AccountID: "1888000011112222",
		BatchWindow: 200 * time.Millisecond, PollInterval: 5 * time.Millisecond,
		RetryScale: 0.0005, // BACKOFF_RETRY's 10-20 s become 5-10 ms
	}
}

func TestStreamDeliversCloudEvents(t *testing.T) {
	plain := `{"taskId":"t-1","uniRegionId":"cn-hangzhou"}`
	encoded := base64.StdEncoding.EncodeToString([]byte(`{"taskId":"t-2","uniRegionId":"cn-hangzhou"}`))
	for _, tc := range []struct {
		name       string
		single     bool
		skipDecode bool
		pushes     int
		bodies     []string
	}{
		{"FC 3.0 array, IsBase64Decode true", false, false, 1,
			[]string{plain, `{"taskId":"t-2","uniRegionId":"cn-hangzhou"}`}},
		{"FC 3.0 array, IsBase64Decode false", false, true, 1, []string{plain, encoded}},
		{"FC 2.0 single objects", true, false, 2,
			[]string{plain, `{"taskId":"t-2","uniRegionId":"cn-hangzhou"}`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newQueues(t, "tasks")
			ids := map[string]bool{}
			for _, body := range []string{plain, encoded} {
				id, err := srv.Send("tasks", body, 0)
				if err != nil {
					t.Fatal(err)
				}
				ids[id] = true
			}
			rec := startFunction(t)
			cfg := fastConfig(srv)
			cfg.SingleEvent, cfg.SkipBase64Decode = tc.single, tc.skipDecode
			stream, err := eventbridge.NewStream(rec, cfg)
			if err != nil {
				t.Fatal(err)
			}
			runStream(t, stream, queueEmpty(srv, "tasks"))

			pushes := rec.pushes()
			if len(pushes) != tc.pushes {
				t.Fatalf("%d pushes, want %d", len(pushes), tc.pushes)
			}
			var got []events.MnsQueueEvent
			var bodies []string
			for _, p := range pushes {
				if p.err != nil {
					t.Fatalf("push failed: %v", p.err)
				}
				if first := p.event[0]; (first == '[') == tc.single {
					t.Errorf("event starts with %q; single-event mode is %v", first, tc.single)
				}
				got = append(got, p.reply.MNS...)
				bodies = append(bodies, p.reply.Bodies...)
			}
			if !slices.Equal(bodies, tc.bodies) {
				t.Errorf("bodies %q, want %q", bodies, tc.bodies)
			}
			for _, e := range got {
				checks := []struct {
					name      string
					got, want string
				}{
					{"type", deref(e.Type), "mns:Queue:SendMessage"},
					{"source", deref(e.Source), "MNS-precheckwatch-mnsTrigger"},
					{"event bus", deref(e.Aliyuneventbusname), "MNS-precheckwatch-mnsTrigger"},
					{"subject", deref(e.Subject), "acs:mns:cn-shanghai:1888000011112222:queues/tasks"},
					{"specversion", deref(e.Specversion), "1.0"},
					{"account", deref(e.Aliyunaccountid), "1888000011112222"},
					{"region", deref(e.Aliyunregionid), "cn-shanghai"},
					{"id is the message id", deref(e.ID), deref(e.Data.MessageID)},
				}
				for _, c := range checks {
					if c.got != c.want {
						t.Errorf("%s: %q, want %q", c.name, c.got, c.want)
					}
				}
				if !ids[deref(e.ID)] {
					t.Errorf("id %q is not one of the sent message ids %v", deref(e.ID), ids)
				}
				if len(deref(e.Data.RequestID)) != 24 {
					t.Errorf("data.requestId %q is not an MNS request id", deref(e.Data.RequestID))
				}
				if e.Time.IsZero() || e.Aliyunpublishtime.Before(e.Time) {
					t.Errorf("time %v, publish time %v: want enqueue time then publish time", e.Time, e.Aliyunpublishtime)
				}
			}
			if s := stream.Stats(); s.Received != 2 || s.Delivered != 2 || s.Retries != 0 || s.DeleteErrors != 0 {
				t.Errorf("stats %+v, want 2 received and delivered, no retries", s)
			}
		})
	}
}

func TestStreamBatchesByCount(t *testing.T) {
	srv := newQueues(t, "tasks")
	for i := range 5 {
		if _, err := srv.Send("tasks", fmt.Sprintf(`{"n":%d}`, i), 0); err != nil {
			t.Fatal(err)
		}
	}
	rec := startFunction(t)
	cfg := fastConfig(srv)
	cfg.BatchSize = 2
	stream, err := eventbridge.NewStream(rec, cfg)
	if err != nil {
		t.Fatal(err)
	}
	runStream(t, stream, queueEmpty(srv, "tasks"))
	var sizes []int
	for _, p := range rec.pushes() {
		sizes = append(sizes, len(p.reply.MNS))
	}
	if !slices.Equal(sizes, []int{2, 2, 1}) {
		t.Errorf("batch sizes %v, want [2 2 1]", sizes)
	}
}

func TestStreamRetries(t *testing.T) {
	for _, tc := range []struct {
		name       string
		body       func(dir string) string
		deadLetter bool
		pushes     int
		want       eventbridge.StreamStats
		left       int // messages still on the source queue
		dead       int // messages on the dead-letter queue
	}{
		{
			name: "fails twice then succeeds",
			body: func(dir string) string {
				return fmt.Sprintf(`{"failTimes":2,"counterFile":%q}`, filepath.Join(dir, "n"))
			},
			pushes: 3,
			want:   eventbridge.StreamStats{Received: 1, Pushes: 3, Delivered: 1, Retries: 2},
		},
		{
			name:   "always fails, discarded without a dead-letter queue",
			body:   func(string) string { return `{"error":"downstream unavailable"}` },
			pushes: 4,
			want:   eventbridge.StreamStats{Received: 1, Pushes: 4, Retries: 3, Discarded: 1},
		},
		{
			name:       "always fails, dead-lettered",
			body:       func(string) string { return `{"error":"downstream unavailable"}` },
			deadLetter: true,
			pushes:     4,
			want:       eventbridge.StreamStats{Received: 1, Pushes: 4, Retries: 3, DeadLettered: 1},
			dead:       1,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newQueues(t, "tasks", "dead")
			if _, err := srv.Send("tasks", tc.body(t.TempDir()), 0); err != nil {
				t.Fatal(err)
			}
			rec := startFunction(t)
			cfg := fastConfig(srv)
			if tc.deadLetter {
				cfg.DeadLetter = func(_ context.Context, event []byte) error {
					_, err := srv.Send("dead", string(event), 0)
					return err
				}
			}
			stream, err := eventbridge.NewStream(rec, cfg)
			if err != nil {
				t.Fatal(err)
			}
			runStream(t, stream, func() bool {
				s := stream.Stats()
				return s.Delivered+s.Discarded+s.DeadLettered == 1
			})
			if got := len(rec.pushes()); got != tc.pushes {
				t.Errorf("%d pushes, want %d", got, tc.pushes)
			}
			got := stream.Stats()
			got.PeakInFlight = 0 // one batch: always 1
			if got != tc.want {
				t.Errorf("stats %+v, want %+v", got, tc.want)
			}
			if got := len(srv.Messages("tasks")); got != tc.left {
				t.Errorf("%d messages left on the source, want %d", got, tc.left)
			}
			dead := srv.Bodies("dead")
			if len(dead) != tc.dead {
				t.Fatalf("%d dead letters, want %d", len(dead), tc.dead)
			}
			for _, d := range dead {
				var e events.MnsQueueEvent
				if err := json.Unmarshal([]byte(d), &e); err != nil || deref(e.Type) != "mns:Queue:SendMessage" {
					t.Errorf("dead letter %s is not the CloudEvent (%v)", d, err)
				}
			}
		})
	}
}

func TestTimer(t *testing.T) {
	rec := startFunction(t)
	at := time.Date(2025, 6, 1, 2, 0, 0, 123456789, time.FixedZone("CST", 8*3600))
	timer, err := eventbridge.NewTimer(rec, eventbridge.TimerConfig{
		Name: "sweep", Payload: `{"maxTasks":5}`, Interval: 20 * time.Millisecond,
		Now: func() time.Time { return at },
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := timer.Fire(ctx); err != nil {
		t.Fatal(err)
	}
	got := rec.pushes()[0].reply.Timer
	if got == nil {
		t.Fatal("the function did not see a timer event")
	}
	for _, c := range []struct{ name, got, want string }{
		{"triggerTime", deref(got.TriggerTime), "2025-05-31T18:00:00Z"},
		{"triggerName", deref(got.TriggerName), "sweep"},
		{"payload", deref(got.Payload), `{"maxTasks":5}`},
	} {
		if c.got != c.want {
			t.Errorf("%s: %q, want %q", c.name, c.got, c.want)
		}
	}

	runCtx, stop := context.WithCancel(ctx)
	stopped := make(chan error, 1)
	go func() { stopped <- timer.Run(runCtx) }()
	waitfor.Condition(10*time.Second, func() bool { return timer.Stats().Fired >= 3 }) // the count is checked below
	stop()
	if err := <-stopped; err != nil {
		t.Errorf("Run: %v", err)
	}
	if n := timer.Stats().Fired; n < 3 {
		t.Errorf("timer fired %d times, want at least 3", n)
	}
}

func TestTimerRetriesAsynchronousInvocations(t *testing.T) {
	for _, tc := range []struct {
		name        string
		payload     func(dir string) string
		wantRetries []int // x-fc-retry-count of each invocation
		wantErr     bool
		want        eventbridge.TimerStats
	}{
		{
			name: "fails twice then succeeds",
			payload: func(dir string) string {
				return fmt.Sprintf(`{"failTimes":2,"counterFile":%q}`, filepath.Join(dir, "n"))
			},
			wantRetries: []int{0, 1, 2},
			want:        eventbridge.TimerStats{Fired: 1, Invocations: 3, Retries: 2},
		},
		{
			name:        "always fails: three retries, then given up",
			payload:     func(string) string { return `{"error":"Security Center unavailable"}` },
			wantRetries: []int{0, 1, 2, 3},
			wantErr:     true,
			want:        eventbridge.TimerStats{Fired: 1, Invocations: 4, Retries: 3, Failed: 1},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := startFunction(t)
			timer, err := eventbridge.NewTimer(rec, eventbridge.TimerConfig{Payload: tc.payload(t.TempDir()), RetryScale: 0.01})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := timer.FireAsync(ctx); (err != nil) != tc.wantErr {
				t.Errorf("FireAsync: %v, want error %v", err, tc.wantErr)
			}
			var counts []int
			for _, p := range rec.pushes() {
				counts = append(counts, p.retryCount)
			}
			if !slices.Equal(counts, tc.wantRetries) {
				t.Errorf("retry counts %v, want %v", counts, tc.wantRetries)
			}
			if got := timer.Stats(); got != tc.want {
				t.Errorf("stats %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestTimerSweepsOverlap(t *testing.T) {
	rec := startFunction(t)
	// Each sweep outlasts the interval, so a second one starts while the
	// first runs: both must be in the barrier at once.
	timer, err := eventbridge.NewTimer(rec, eventbridge.TimerConfig{
		Payload: fmt.Sprintf(`{"barrier":%q,"parties":2}`, t.TempDir()), Interval: 50 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	stopped := make(chan error, 1)
	go func() { stopped <- timer.Run(ctx) }()
	waitfor.Condition(10*time.Second, func() bool { return len(succeeded(rec.pushes())) >= 2 }) // the count is checked below
	cancel()
	if err := <-stopped; err != nil {
		t.Errorf("Run: %v", err)
	}
	if n := len(succeeded(rec.pushes())); n < 2 {
		t.Errorf("%d sweeps met in the barrier, want 2 running at once", n)
	}
}

func succeeded(ps []push) []push {
	return slices.DeleteFunc(ps, func(p push) bool { return p.err != nil })
}

func TestStreamPushesConcurrently(t *testing.T) {
	srv := newQueues(t, "tasks")
	barrier := t.TempDir()
	for range 3 {
		if _, err := srv.Send("tasks", fmt.Sprintf(`{"barrier":%q,"parties":3}`, barrier), 0); err != nil {
			t.Fatal(err)
		}
	}
	rec := startFunction(t)
	cfg := fastConfig(srv)
	cfg.BatchSize, cfg.BatchWindow, cfg.Concurrency = 1, time.Millisecond, 3
	stream, err := eventbridge.NewStream(rec, cfg)
	if err != nil {
		t.Fatal(err)
	}
	runStream(t, stream, func() bool { return stream.Stats().Delivered == 3 })
	if s := stream.Stats(); s.PeakInFlight != 3 || s.Retries != 0 {
		t.Errorf("stats %+v, want three pushes in flight at once and no retries", s)
	}
	if s := rec.fn.Stats(); s.PeakInstances != 3 {
		t.Errorf("function stats %+v, want three instances for three pushes at once", s)
	}
}

func TestStreamRetrySchedules(t *testing.T) {
	const scale = 0.01
	for _, tc := range []struct {
		name     string
		strategy eventbridge.RetryStrategy
		retries  int
		min, max []time.Duration // real waits before each retry
	}{
		{"BACKOFF_RETRY: 3 retries 10-20 s apart", eventbridge.BackoffRetry, 0,
			[]time.Duration{10 * time.Second, 10 * time.Second, 10 * time.Second},
			[]time.Duration{20 * time.Second, 20 * time.Second, 20 * time.Second}},
		{"EXPONENTIAL_DECAY_RETRY: 1 s doubling", eventbridge.ExponentialDecayRetry, 5,
			[]time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second},
			[]time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newQueues(t, "tasks")
			if _, err := srv.Send("tasks", `{"error":"always"}`, 0); err != nil {
				t.Fatal(err)
			}
			rec := startFunction(t)
			cfg := fastConfig(srv)
			cfg.RetryStrategy, cfg.Retries, cfg.RetryScale = tc.strategy, tc.retries, scale
			stream, err := eventbridge.NewStream(rec, cfg)
			if err != nil {
				t.Fatal(err)
			}
			runStream(t, stream, func() bool { return stream.Stats().Discarded == 1 })
			ps := rec.pushes()
			if len(ps) != len(tc.min)+1 {
				t.Fatalf("%d pushes, want %d", len(ps), len(tc.min)+1)
			}
			// A wait runs from the end of the failed push to the retry: at
			// least its scaled minimum; scheduling may add to it, never
			// take away. The push itself (the first a cold start) is not
			// part of it, however long a loaded machine makes it.
			const slack = 150 * time.Millisecond
			for i := range tc.min {
				gap := ps[i+1].at.Sub(ps[i].done)
				lo, hi := time.Duration(float64(tc.min[i])*scale), time.Duration(float64(tc.max[i])*scale)
				if gap < lo || gap > hi+slack {
					t.Errorf("retry %d came %s after the push before, want %s..%s", i+1, gap, lo, hi)
				}
			}
			if len(srv.Messages("tasks")) != 0 {
				t.Error("the exhausted message is still on the queue")
			}
		})
	}
	if got := eventbridge.ExponentialDecayRetry.String(); got != "EXPONENTIAL_DECAY_RETRY" {
		t.Errorf("String %q", got)
	}
}

func TestConfigErrors(t *testing.T) {
	srv := newQueues(t)
	rec := &recorder{}
	for _, tc := range []struct {
		name string
		cfg  eventbridge.StreamConfig
	}{
		{"no queue", eventbridge.StreamConfig{FunctionName: "f"}},
		{"no function", eventbridge.StreamConfig{Queue: srv, QueueName: "q"}},
		{"batch too big", eventbridge.StreamConfig{Queue: srv, QueueName: "q", FunctionName: "f", BatchSize: 10001}},
		{"window too long", eventbridge.StreamConfig{Queue: srv, QueueName: "q", FunctionName: "f", BatchWindow: 16 * time.Second}},
		{"negative retry scale", eventbridge.StreamConfig{Queue: srv, QueueName: "q", FunctionName: "f", RetryScale: -1}},
		{"unknown retry strategy", eventbridge.StreamConfig{Queue: srv, QueueName: "q", FunctionName: "f", RetryStrategy: 7}},
		{"no concurrency", eventbridge.StreamConfig{Queue: srv, QueueName: "q", FunctionName: "f", Concurrency: -1}},
	} {
		if _, err := eventbridge.NewStream(rec, tc.cfg); err == nil {
			t.Errorf("%s: NewStream accepted %+v", tc.name, tc.cfg)
		}
	}
	if _, err := eventbridge.NewTimer(rec, eventbridge.TimerConfig{Payload: string(make([]byte, 130<<10))}); err == nil {
		t.Error("NewTimer accepted a payload over 128 KB")
	}
}

func deref(s *string) string {
	if s == nil {
		return "<nil>"
	}
	return *s
}

func TestStreamStopsWhenTheFunctionCloses(t *testing.T) {
	srv := newQueues(t, "tasks")
	if _, err := srv.Send("tasks", `{"taskId":"t-1"}`, 0); err != nil {
		t.Fatal(err)
	}
	rec := startFunction(t)
	rec.fn.Close()
	stream, err := eventbridge.NewStream(rec, fastConfig(srv))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := stream.Run(ctx); !errors.Is(err, fcruntime.ErrClosed) {
		t.Errorf("Run: %v, want fcruntime.ErrClosed", err)
	}
	if got := len(srv.Messages("tasks")); got != 1 {
		t.Errorf("%d messages on the queue, want the undelivered one", got)
	}
}

// TestEventsMatchTheSamples compares the events a stream and a timer push
// with the FC 3.0 samples in testdata (reference fc-runtime.md §2): the
// same keys in the same order, at every level.
func TestEventsMatchTheSamples(t *testing.T) {
	srv := newQueues(t, "tasks")
	for _, body := range []string{`{"orderId":"o-1001"}`, `{"orderId":"o-1002"}`} {
		if _, err := srv.Send("tasks", body, 0); err != nil {
			t.Fatal(err)
		}
	}
	rec := startFunction(t)
	stream, err := eventbridge.NewStream(rec, fastConfig(srv))
	if err != nil {
		t.Fatal(err)
	}
	runStream(t, stream, queueEmpty(srv, "tasks"))
	timer, err := eventbridge.NewTimer(rec, eventbridge.TimerConfig{Name: "nightly-sync", Payload: `{"mode":"full"}`})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := timer.Fire(context.Background()); err != nil {
		t.Fatal(err)
	}
	pushes := rec.pushes()
	if len(pushes) != 2 {
		t.Fatalf("%d pushes, want the batch and the timer", len(pushes))
	}
	for i, sample := range []string{"mns-batch.json", "timer.json"} {
		want, err := os.ReadFile(filepath.Join("testdata", sample))
		if err != nil {
			t.Fatal(err)
		}
		if got, want := keyPaths(t, pushes[i].event), keyPaths(t, want); !slices.Equal(got, want) {
			t.Errorf("%s: keys\n got %q\nwant %q", sample, got, want)
		}
	}
}

// keyPaths lists the object keys of a JSON document in order, each with
// its path, so two documents of the same shape give the same list.
func keyPaths(t *testing.T, doc []byte) []string {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(doc))
	var paths []string
	var walk func(prefix string) error
	walk = func(prefix string) error {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		switch tok {
		case json.Delim('{'):
			for dec.More() {
				key, err := dec.Token()
				if err != nil {
					return err
				}
				path := prefix + "." + key.(string)
				paths = append(paths, path)
				if err := walk(path); err != nil {
					return err
				}
			}
			_, err = dec.Token()
			return err
		case json.Delim('['):
			for i := 0; dec.More(); i++ {
				if err := walk(fmt.Sprintf("%s[%d]", prefix, i)); err != nil {
					return err
				}
			}
			_, err = dec.Token()
			return err
		}
		return nil
	}
	if err := walk(""); err != nil {
		t.Fatalf("walk %s: %v", doc, err)
	}
	return paths
}
