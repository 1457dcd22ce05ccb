// Package bench is the performance benchmark (SPEC §9): it seeds the local
// cloud with precheck tasks, runs the function's binary on it under the
// emulated FC runtime and measures what the run cost against the bound the
// services' own limits set.
package bench

import (
	"bufio"
	"bytes"
	"context"
	"debug/buildinfo"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"precheckwatch/handler"
	"precheckwatch/internal/redistest"
	"precheckwatch/localcloud"
	"precheckwatch/localcloud/eventbridge"
	"precheckwatch/localcloud/fault"
	"precheckwatch/localcloud/fcruntime"
	"precheckwatch/localcloud/mns"
	"precheckwatch/localcloud/rig"
	"precheckwatch/localcloud/securitycenter"
	"precheckwatch/precheck"
)

// Config is one bench run.
type Config struct {
	Tasks       int
	Latency     time.Duration // added to every answer of every emulated service
	Concurrency int           // CHECK_CONCURRENCY
	// RateLimit is SAS_RATE_LIMIT; 0 picks one four times what the
	// concurrency can use, so that it does not bind.
	RateLimit float64
	MemoryMB  int
	Timeout   time.Duration // the function's FC timeout
	Trigger   handler.Trigger
	// Running is the share of tasks still running when checked: each is
	// requeued instead of notified.
	Running float64
	// Batch is the EventBridge batch size (batchWindow.CountBasedWindow)
	// of the mns trigger.
	Batch int
	// Channels are the chat channels configured: "slack", "dingtalk", "feishu".
	Channels []string
	// Dedupe is the delivery record: "memory" (the function's own) or
	// "redis", a real redis-server shared through a proxy that counts
	// round trips and adds RedisLatency to each.
	Dedupe       string
	RedisLatency time.Duration
	// Visibility is the queues' VisibilityTimeout; 0 is MNS's default.
	Visibility time.Duration
	// ColdStarts is how many instances of each binary the cold-start
	// figures are the median of.
	ColdStarts int
	// Binary is the function; "" is this executable, whose cold start is
	// then that of the deployed build (deployedBuild). The cold-start
	// baselines are built with the measured binary's build settings.
	Binary string
}

// Result holds the figures of the bench: line.
type Result struct {
	Tasks   int
	Elapsed time.Duration
	Ideal   time.Duration
	// Requests are the HTTP requests the emulators served the function;
	// RedisRoundTrips the round trips to the shared delivery record.
	Requests        int
	RedisRoundTrips int
	// Messages are the messages each chat service accepted, by channel
	// name, from the emulators' own records.
	Messages map[string]int
	// LeftOnQueue counts finished tasks still on the pending queue.
	LeftOnQueue  int
	PeakRSSBytes int64 // -1 when /proc cannot tell
	// ColdStart is the function's cold start; HelloColdStart that of a
	// hello-world fc.Start function, and SDKColdStart that of the same
	// linked with the libraries the function is built on (internal/sdkfn):
	// the least the function can start in.
	ColdStart, HelloColdStart, SDKColdStart time.Duration
}

// Line is the bench: line of SPEC §9.
func (r Result) Line() string {
	rss := "n/a"
	if r.PeakRSSBytes >= 0 {
		rss = strconv.FormatFloat(float64(r.PeakRSSBytes)/(1<<20), 'f', 1, 64)
	}
	s := r.Elapsed.Seconds()
	n := float64(r.Tasks)
	return fmt.Sprintf("bench: tasks=%d seconds=%.3f tasks_per_s=%.1f ideal_ratio=%.3f ideal_s=%s requests_per_task=%.3f redis_per_task=%.3f "+
		"slack_messages=%d dingtalk_messages=%d feishu_messages=%d left_on_queue=%d peak_rss_mb=%s cold_start_ms=%.2f hello_cold_start_ms=%.2f",
		r.Tasks, s, n/s, s/r.Ideal.Seconds(), strconv.FormatFloat(r.Ideal.Seconds(), 'f', -1, 64), float64(r.Requests)/n, float64(r.RedisRoundTrips)/n,
		r.Messages["slack"], r.Messages["dingtalk"], r.Messages["feishu"], r.LeftOnQueue, rss,
		ms(r.ColdStart), ms(r.HelloColdStart))
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// Validate checks the run's settings, filling in the defaults.
func (c *Config) Validate() error {
	switch {
	case c.Tasks < 1:
		return fmt.Errorf("--tasks %d: want at least 1", c.Tasks)
	case c.Latency < 0:
		return fmt.Errorf("--latency %s is negative", c.Latency)
	case c.Concurrency < 1 || c.Concurrency > 1000:
		return fmt.Errorf("--concurrency %d is outside 1..1000", c.Concurrency)
	case c.RateLimit < 0:
		return fmt.Errorf("--rate-limit %g is negative", c.RateLimit)
	case c.MemoryMB < 128 || c.MemoryMB > 32768 || c.MemoryMB%64 != 0:
		return fmt.Errorf("--memory-mb %d: FC 3.0 takes 128..32768 MB in multiples of 64", c.MemoryMB)
	case c.Timeout < time.Second:
		return fmt.Errorf("--timeout %s: want at least 1s", c.Timeout)
	case c.Trigger != handler.TimerTrigger && c.Trigger != handler.MNSTrigger:
		return fmt.Errorf("--trigger %q: want timer or mns", c.Trigger)
	case c.Running < 0 || c.Running > 1:
		return fmt.Errorf("--running %g is outside 0..1", c.Running)
	case c.Batch < 1 || c.Batch > 10000:
		return fmt.Errorf("--batch %d is outside EventBridge's 1..10000", c.Batch)
	case c.ColdStarts < 1:
		return fmt.Errorf("--cold-starts %d: want at least 1", c.ColdStarts)
	case c.Dedupe != "memory" && c.Dedupe != "redis":
		return fmt.Errorf("--dedupe %q: want memory or redis", c.Dedupe)
	case c.RedisLatency < 0:
		return fmt.Errorf("--redis-latency %s is negative", c.RedisLatency)
	case c.Visibility != 0 && (c.Visibility < time.Second || c.Visibility > mns.MaxVisibilityTimeout || c.Visibility%time.Second != 0):
		return fmt.Errorf("--visibility %s: MNS takes whole seconds from 1s to %s", c.Visibility, mns.MaxVisibilityTimeout)
	}
	for _, ch := range c.Channels {
		if _, ok := chatLimits[ch]; !ok {
			return fmt.Errorf("--channels: %q is not slack, dingtalk or feishu", ch)
		}
	}
	if c.RateLimit == 0 {
		c.RateLimit = 4 * float64(c.Concurrency) / max(c.Latency.Seconds(), 0.001)
	}
	return nil
}

// channelOverrides remove the configuration of the channels left out.
func (c Config) channelOverrides() [][2]string {
	var out [][2]string
	if !slices.Contains(c.Channels, "slack") {
		out = append(out, [2]string{"SLACK_BOT_TOKEN", ""}, [2]string{"SLACK_CHANNEL", ""}, [2]string{"SLACK_WEBHOOK_URL", ""})
	}
	if !slices.Contains(c.Channels, "dingtalk") {
		out = append(out, [2]string{"DINGTALK_WEBHOOK_URL", ""}, [2]string{"DINGTALK_SECRET", ""})
	}
	if !slices.Contains(c.Channels, "feishu") {
		out = append(out, [2]string{"FEISHU_WEBHOOK_URL", ""}, [2]string{"FEISHU_SECRET", ""})
	}
	return out
}

// window is a rate limit of the form "at most n in any span".
type window struct {
	n    int
	span time.Duration
}

// chatLimits are the chat services' real limits per channel (reference
// notify.md): Slack about one message a second, a DingTalk robot 20 in any
// minute, a Feishu bot 5 a second and 100 a minute.
var chatLimits = map[string][]window{
	"slack":    {{1, time.Second}},
	"dingtalk": {{20, time.Minute}},
	"feishu":   {{5, time.Second}, {100, time.Minute}},
}

// leastSpan is the least time from the first to the last of m messages
// under the windows: with at most n in any span, message k (from 0) can go
// no earlier than floor(k/n) spans after the first, and the last is k = m−1.
func leastSpan(m int, windows []window) time.Duration {
	var d time.Duration
	for _, w := range windows {
		d = max(d, time.Duration(max(m-1, 0)/w.n)*w.span)
	}
	return d
}

// idealBound is the least time the run can take: every query waits the
// latency, Concurrency at a time, unless the rate limit is slower; and no
// channel takes the messages it accepted faster than its service allows.
func (c Config) idealBound(queries int, messages map[string]int) time.Duration {
	byLatency := time.Duration(c.latencyRounds(queries)) * c.Latency
	bound := max(byLatency, c.rateBound(queries), time.Millisecond)
	for ch, m := range messages {
		bound = max(bound, leastSpan(m, chatLimits[ch]))
	}
	return bound
}

// latencyRounds counts the calls of the longest chain the latency bound
// is made of: no task is checked before the receive that brings its
// message (made by the function, or by EventBridge for the stream), the
// queries, Concurrency at a time, each wait the latency, so the last of
// them ends no earlier than ⌈queries / Concurrency⌉ latencies after the
// first begins, and a finished task's message is deleted only after its
// verdict (by the function, or by EventBridge once the invocation
// returns). No implementation can overlap these three.
func (c Config) latencyRounds(queries int) int {
	return 1 + (queries+c.Concurrency-1)/c.Concurrency + 1
}

// rateBound is the least time the rate limit allows for the queries. The
// function's token bucket starts full with handler.SASBurst tokens, and
// holds no more however long it waits, so the first burst of queries go at
// once and each later one a token's time, 1 / RateLimit, after the one
// before: the last starts (queries − burst) / RateLimit after the first.
// Before the first comes the receive that brings its task; after the last,
// its answer and the delete of its message: three latencies. The bucket is
// an instance's: the timer's sweep is one invocation, and with --trigger mns
// the default rate, which does not bind, is the one to use.
func (c Config) rateBound(queries int) time.Duration {
	beyondBurst := max(queries-handler.SASBurst(c.RateLimit), 0)
	return time.Duration(float64(beyondBurst)/c.RateLimit*float64(time.Second)) + 3*c.Latency
}

// idealTerms spells the bound out for the progress output.
func (c Config) idealTerms(queries int, messages map[string]int) string {
	terms := []string{
		fmt.Sprintf("(1 receive + ⌈%d / %d⌉ queries + 1 delete) × %s", queries, c.Concurrency, c.Latency),
		fmt.Sprintf("(%d − %d burst) / %g/s + 3 × %s", queries, handler.SASBurst(c.RateLimit), c.RateLimit, c.Latency),
	}
	for _, ch := range slices.Sorted(maps.Keys(messages)) {
		terms = append(terms, fmt.Sprintf("%d %s messages: %s", messages[ch], ch, leastSpan(messages[ch], chatLimits[ch])))
	}
	return strings.Join(terms, ", ")
}

// Run seeds the local cloud, runs the function on it and measures,
// printing its progress to progress.
func Run(ctx context.Context, cfg Config, progress io.Writer) (Result, error) {
	say := func(format string, args ...any) { fmt.Fprintf(progress, "bench: "+format+"\n", args...) }
	res := Result{Tasks: cfg.Tasks, PeakRSSBytes: -1}
	binary := cfg.Binary
	if binary == "" {
		exe, err := os.Executable()
		if err != nil {
			return res, fmt.Errorf("find the function binary: %w", err)
		}
		binary = exe
	}
	dir, err := os.MkdirTemp("", "precheckwatch-bench-")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(dir)
	root, err := moduleRoot(ctx)
	if err != nil {
		return res, err
	}
	measured := cfg.Binary
	if measured == "" {
		if measured, err = deployedBuild(ctx, root, dir); err != nil {
			return res, err
		}
	}
	starts, err := prepareColdStarts(ctx, root, dir, measured)
	if err != nil {
		return res, err
	}

	env := append(cfg.channelOverrides(), [][2]string{
		{"CHECK_CONCURRENCY", strconv.Itoa(cfg.Concurrency)},
		{"SAS_RATE_LIMIT", strconv.FormatFloat(cfg.RateLimit, 'g', -1, 64)},
		// Requeued tasks stay out of this sweep.
		{"BACKOFF_INITIAL", "10m"}, {"BACKOFF_MAX", "30m"}, {"TASK_DEADLINE", "24h"},
		{"LOG_LEVEL", "info"},
	}...)
	var record *redistest.Proxy
	if cfg.Dedupe == "redis" {
		server, err := redistest.Start()
		if err != nil {
			return res, fmt.Errorf("--dedupe redis: %w", err)
		}
		defer server.Stop()
		if record, err = redistest.NewProxy(server.Addr, cfg.RedisLatency); err != nil {
			return res, fmt.Errorf("--dedupe redis: %w", err)
		}
		defer record.Close()
		env = append(env, [2]string{"DEDUPE_URL", record.URL})
		say("delivery record: redis-server on %s, %s added to every round trip", server.Addr, cfg.RedisLatency)
	}
	r, err := rig.Start(ctx, rig.Config{
		Binary: binary, Cloud: localcloud.Options{Seed: 1, VisibilityTimeout: int(cfg.Visibility / time.Second)},
		Env: env, MemoryMB: cfg.MemoryMB, Timeout: cfg.Timeout, Concurrency: 1,
	})
	if err != nil {
		return res, fmt.Errorf("start the local cloud and the function: %w", err)
	}
	defer r.Close()
	cloud, fn := r.Cloud, r.Fn
	running, err := seedBench(cloud, cfg)
	if err != nil {
		return res, err
	}
	say("seeded %d tasks in Security Center and on %s (%d finished, %d still running)", cfg.Tasks, localcloud.PendingQueue, cfg.Tasks-running, running)
	channelNames := "none"
	if len(cfg.Channels) > 0 {
		channelNames = strings.Join(cfg.Channels, ", ")
	}
	say("channels: %s", channelNames)
	say("CHECK_CONCURRENCY=%d SAS_RATE_LIMIT=%g/s (binds below %.0f/s), latency %s on every service", cfg.Concurrency, cfg.RateLimit,
		float64(cfg.Concurrency)/max(cfg.Latency.Seconds(), 1e-9), cfg.Latency)

	before, beforeMsgs := requestCounts(cloud), chatMessages(cloud)
	fnStart := r.Function
	fnStart.Binary = starts.function
	res.ColdStart, res.HelloColdStart, res.SDKColdStart, err = coldStarts(ctx, fnStart, starts, cfg.ColdStarts)
	if err != nil {
		return res, err
	}
	ratio := func(d time.Duration) float64 { return ms(d) / max(ms(res.HelloColdStart), 1e-9) }
	say("cold start, median of %d: function %.2f ms (×%.2f), hello-world fc.Start %.2f ms, the same with the required SDKs and go-redis linked %.2f ms (×%.2f)",
		cfg.ColdStarts, ms(res.ColdStart), ratio(res.ColdStart), ms(res.HelloColdStart), ms(res.SDKColdStart), ratio(res.SDKColdStart))

	pid := findInstance(fn.RuntimeAPI())
	injectors := []*fault.Injector{cloud.SASFaults, cloud.MNSFaults}
	for _, chat := range cloud.Chats() {
		injectors = append(injectors, chat.Faults)
	}
	for _, inj := range injectors {
		inj.SetLatency(cfg.Latency)
	}

	tripsBefore := roundTrips(record)
	start := time.Now()
	switch cfg.Trigger {
	case handler.TimerTrigger:
		err = benchTimer(ctx, fn, cfg, running, say)
	case handler.MNSTrigger:
		err = benchStream(ctx, fn, cloud, cfg, say)
	}
	res.Elapsed = time.Since(start)
	if err != nil {
		return res, fmt.Errorf("%w\nfunction output (tail):\n%s", err, r.Output.Tail(3000))
	}
	if pid > 0 {
		res.PeakRSSBytes = peakRSS(pid)
	}
	if res.PeakRSSBytes < 0 {
		say("peak RSS unknown: it is read from /proc/<pid>/status (Linux)")
	}
	res.RedisRoundTrips = roundTrips(record) - tripsBefore
	after := requestCounts(cloud)
	res.Requests = after.total() - before.total()
	res.Messages = map[string]int{}
	for ch, n := range chatMessages(cloud) {
		if slices.Contains(cfg.Channels, ch) {
			res.Messages[ch] = n - beforeMsgs[ch]
		}
	}
	res.Ideal = cfg.idealBound(cfg.Tasks, res.Messages)
	res.LeftOnQueue = finishedOnQueue(cloud, cfg.Tasks, running)
	say("requests: %s", after.minus(before))
	if record != nil {
		say("delivery record: %d round trips", res.RedisRoundTrips)
	}
	phases := phases(r.Reports())
	say("phases: %s", phases)
	say("ideal %.3fs = max(%s)", res.Ideal.Seconds(), cfg.idealTerms(cfg.Tasks, res.Messages))
	if res.LeftOnQueue > 0 {
		say("%d finished tasks are still on %s", res.LeftOnQueue, localcloud.PendingQueue)
	}
	say("cost: %d MB × %.3f s = %.3f GB-s for %d tasks", cfg.MemoryMB, res.Elapsed.Seconds(), float64(cfg.MemoryMB)/1024*res.Elapsed.Seconds(), cfg.Tasks)
	return res, nil
}

func roundTrips(p *redistest.Proxy) int {
	if p == nil {
		return 0
	}
	return p.RoundTrips()
}

// chatMessages counts the messages each chat emulator accepted, as its own
// record of the channel holds them.
func chatMessages(cloud *localcloud.Cloud) map[string]int {
	out := map[string]int{}
	for _, chat := range cloud.Chats() {
		out[chat.Name] = len(chat.Letters())
	}
	return out
}

// finishedOnQueue counts the messages on the pending queue, in any state,
// but those of the tasks the seeding left running, which belong there.
func finishedOnQueue(cloud *localcloud.Cloud, tasks, running int) int {
	n := 0
	for _, m := range cloud.MNS.Messages(localcloud.PendingQueue) {
		var i int
		task, err := precheck.ParseTask([]byte(m.Body))
		if err == nil {
			_, err = fmt.Sscanf(task.TaskID, benchTaskID, &i)
		}
		if err == nil && stillRunning(i, tasks, running) {
			continue
		}
		n++
	}
	return n
}

// stillRunning reports whether the i-th of n seeded tasks is one of the
// running ones, spread evenly through the wave as a real mix would be,
// rather than all at its head.
func stillRunning(i, n, running int) bool {
	return (i+1)*running/n > i*running/n
}

// benchTaskID is the TaskID of the i-th seeded task.
const benchTaskID = "t-bench%015d"

// seedBench registers the tasks with Security Center and puts them on the
// pending queue through the emulators' own methods, which count no
// requests. It returns how many are still running.
func seedBench(cloud *localcloud.Cloud, cfg Config) (int, error) {
	at := time.Now().Add(-time.Minute)
	running := int(math.Round(cfg.Running * float64(cfg.Tasks)))
	kinds := []struct {
		dbType, source string
		results        map[string]string
	}{
		{"MYSQL", securitycenter.SourceMySQL, nil},
		{"MSSQL", securitycenter.SourceMSSQL, map[string]string{"SQL_SERVER_DB_IN_SIMPLE_RECOVERY_MODE": "WARNING"}},
		{"Oracle", securitycenter.SourceOracle, nil},
		{"MYSQL", securitycenter.SourceMySQL, nil},
	}
	for i := range cfg.Tasks {
		k := kinds[i%len(kinds)]
		task := precheck.Task{
			TaskID:       fmt.Sprintf(benchTaskID, i),
			UniRegionID:  localcloud.Region,
			InstanceUUID: fmt.Sprintf("bench%027d", i),
			DatabaseType: k.dbType,
			Label:        fmt.Sprintf("bench-db-%d", i),
		}
		polls := []int{100}
		if stillRunning(i, cfg.Tasks, running) {
			polls = []int{40, 100}
		}
		script := securitycenter.Task{ID: task.TaskID, DatabaseType: k.dbType, InstanceUUID: task.InstanceUUID, UniRegionID: task.UniRegionID,
			Polls: polls, Result: securitycenter.ResultJSON(securitycenter.Check(k.source, fmt.Sprintf("i-bench%08d", i), at, k.results))}
		if err := cloud.SAS.AddTask(script); err != nil {
			return 0, fmt.Errorf("seed task %d: %w", i, err)
		}
		body, err := task.Encode()
		if err != nil {
			return 0, fmt.Errorf("seed task %d: %w", i, err)
		}
		if _, err := cloud.MNS.Send(localcloud.PendingQueue, string(body), 0); err != nil {
			return 0, fmt.Errorf("enqueue task %d: %w", i, err)
		}
	}
	return running, nil
}

// benchTimer fires one timer sweep over the whole queue.
func benchTimer(ctx context.Context, fn *fcruntime.Function, cfg Config, running int, say func(string, ...any)) error {
	timer, err := eventbridge.NewTimer(fn, eventbridge.TimerConfig{Name: "sweep", Payload: fmt.Sprintf(`{"maxTasks": %d}`, cfg.Tasks)})
	if err != nil {
		return err
	}
	say("firing one timer sweep")
	out, err := timer.Fire(ctx)
	if err != nil {
		return fmt.Errorf("timer invocation: %w", err)
	}
	var rep handler.Report
	if err := json.Unmarshal(out.Body, &rep); err != nil {
		return fmt.Errorf("timer invocation answered %q: %w", out.Body, err)
	}
	say("invocation took %.3fs: received %d, checked %d, finished %d, requeued %d, notified %v, errors %v",
		out.Duration.Seconds(), rep.Received, rep.Checked, rep.Finished, rep.Requeued, rep.Notified, rep.Errors)
	if rep.Received != cfg.Tasks || rep.Finished != cfg.Tasks-running || rep.Requeued != running || rep.NotHandedOn != 0 {
		return fmt.Errorf("the sweep did not hand on every task as expected: received %d, finished %d, requeued %d, not handed on %d, errors %v",
			rep.Received, rep.Finished, rep.Requeued, rep.NotHandedOn, rep.Errors)
	}
	if rep.Redelivering > 0 {
		say("%d finished tasks went back on the queue: the invocation's time ran out before every channel had them (notify failures %v)",
			rep.Redelivering, rep.NotifyFailed)
	}
	return nil
}

// benchStream lets the EventBridge stream push the queue to the function
// in batches until every message was delivered.
func benchStream(ctx context.Context, fn *fcruntime.Function, cloud *localcloud.Cloud, cfg Config, say func(string, ...any)) error {
	// The whole wave is on the queue before the stream starts, so batches
	// fill at once; the time window (s.yaml's 15 s) is shortened to 50 ms,
	// which only the last, partial batch waits for.
	trigger := cloud.DeployedStream()
	trigger.BatchSize, trigger.BatchWindow, trigger.PollInterval, trigger.RetryScale = cfg.Batch, 50*time.Millisecond, 10*time.Millisecond, 0.01
	stream, err := eventbridge.NewStream(fn, trigger)
	if err != nil {
		return err
	}
	runCtx, stop := context.WithTimeout(ctx, cfg.Timeout)
	defer stop()
	done := make(chan struct{})
	go func() { _ = stream.Run(runCtx); close(done) }()
	say("EventBridge stream pushing batches of up to %d", cfg.Batch)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		st := stream.Stats()
		q := cloud.MNS.Stats(localcloud.PendingQueue)
		// Requeued tasks come back as new messages, delayed out of reach;
		// so do finished ones a channel did not take in time, which the
		// line counts as left on the queue.
		if st.Delivered >= cfg.Tasks && q.Active+q.Inactive == 0 {
			stop()
			<-done
			say("stream: %d pushes, %d delivered, %d retries", st.Pushes, st.Delivered, st.Retries)
			return nil
		}
		if st.DeadLettered+st.Discarded+st.Left > 0 {
			stop()
			<-done
			return fmt.Errorf("the stream gave up on messages: %+v", st)
		}
		select {
		case <-runCtx.Done():
			<-done
			return fmt.Errorf("not every task was handed on within %s: stream %+v, queue %+v", cfg.Timeout, st, q)
		case <-tick.C:
		}
	}
}

// coldStartBinaries are the binaries whose cold starts the bench compares.
type coldStartBinaries struct {
	function string
	hello    string // internal/hellofn
	sdks     string // internal/sdkfn
}

// prepareColdStarts builds the baselines with the function binary's build
// settings, so that the cold starts differ only in what each program links
// and does: a cgo build, say, is linked dynamically and spends most of a
// millisecond in the dynamic loader, which a CGO_ENABLED=0 build does not.
// It then writes plain copies of all three into dir, as FC unpacks a code
// package: a file just written by the Go linker starts slower (0.1 to
// 0.25 ms here) than a plain copy of the same bytes, which would favour
// whichever binary happened to be copied.
func prepareColdStarts(ctx context.Context, root, dir, function string) (coldStartBinaries, error) {
	env, flags, err := buildSettings(function)
	if err != nil {
		return coldStartBinaries{}, err
	}
	out := coldStartBinaries{function: filepath.Join(dir, "function"), hello: filepath.Join(dir, "hellofn"), sdks: filepath.Join(dir, "sdkfn")}
	for _, b := range []struct{ pkg, out string }{{"./internal/hellofn", out.hello}, {"./internal/sdkfn", out.sdks}} {
		exe := filepath.Join(dir, "built", filepath.Base(b.out))
		if err := goBuild(ctx, root, env, append(flags, "-o", exe, b.pkg)...); err != nil {
			return coldStartBinaries{}, fmt.Errorf("build the cold-start baseline %s: %w", b.pkg, err)
		}
		if err := copyExecutable(exe, b.out); err != nil {
			return coldStartBinaries{}, err
		}
	}
	return out, copyExecutable(function, out.function)
}

// deployedBuild builds the function as s.yaml deploys it, for this machine:
// CGO_ENABLED=0 and -tags nolocalcloud, which leaves out the local cloud
// that this executable carries and the deployed function does not.
func deployedBuild(ctx context.Context, root, dir string) (string, error) {
	exe := filepath.Join(dir, "built", "main")
	if err := goBuild(ctx, root, []string{"CGO_ENABLED=0"}, "-tags", "nolocalcloud", "-o", exe, "."); err != nil {
		return "", fmt.Errorf("build the deployed function: %w", err)
	}
	return exe, nil
}

// goBuild runs go build with args in the module at root, with env added to
// this process's environment.
func goBuild(ctx context.Context, root string, env []string, args ...string) error {
	build := exec.CommandContext(ctx, "go", append([]string{"build"}, args...)...)
	build.Dir = root
	build.Env = append(os.Environ(), env...)
	if msg, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("%w\n%s", err, msg)
	}
	return nil
}

// copyExecutable writes a plain copy of the executable src at dst.
func copyExecutable(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("copy %s: %w", src, err)
	}
	return out.Close()
}

// buildSettings reads the settings binary was built with that shape its
// start, as the go command's environment and flags: cgo (and so dynamic
// linking), the target, and the flags that change the code or its layout.
func buildSettings(binary string) (env, flags []string, err error) {
	info, err := buildinfo.ReadFile(binary)
	if err != nil {
		return nil, nil, fmt.Errorf("read the build settings of %s: %w", binary, err)
	}
	for _, s := range info.Settings {
		switch s.Key {
		case "CGO_ENABLED", "GOOS", "GOARCH", "GOAMD64", "GOARM64":
			env = append(env, s.Key+"="+s.Value)
		case "-ldflags", "-gcflags", "-trimpath", "-race", "-buildmode":
			flags = append(flags, s.Key+"="+s.Value)
		}
	}
	return env, flags, nil
}

// moduleRoot is the directory of precheckwatch's go.mod, as the go command
// sees it from the working directory.
func moduleRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	gomod := strings.TrimSpace(string(out))
	if err != nil || gomod == "" || gomod == os.DevNull {
		return "", errors.New("the cold-start baselines are built with go build: run bench from the precheckwatch module (go run . bench)")
	}
	return filepath.Dir(gomod), nil
}

// coldStarts starts and stops n instances of each binary, taking turns so
// that all three see the same machine, and returns the median times from
// process start to first /invocation/next.
func coldStarts(ctx context.Context, fnCfg fcruntime.Config, b coldStartBinaries, n int) (fn, hello, sdks time.Duration, err error) {
	var fnTimes, helloTimes, sdkTimes []time.Duration
	for range n {
		for _, c := range []struct {
			cfg   fcruntime.Config
			times *[]time.Duration
		}{
			{fcruntime.Config{Binary: b.hello, FunctionName: "hello", MemoryMB: fnCfg.MemoryMB}, &helloTimes},
			{fcruntime.Config{Binary: b.sdks, FunctionName: "sdks", MemoryMB: fnCfg.MemoryMB}, &sdkTimes},
			{fnCfg, &fnTimes},
		} {
			f, err := fcruntime.Start(ctx, c.cfg)
			if err != nil {
				return 0, 0, 0, fmt.Errorf("cold start of %s: %w", c.cfg.FunctionName, err)
			}
			*c.times = append(*c.times, f.Stats().ColdStartTimes...)
			f.Close()
		}
	}
	return median(fnTimes), median(helloTimes), median(sdkTimes), nil
}

func median(d []time.Duration) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

// findInstance returns the pid of the function process serving the
// runtime API at addr: the one whose environment names it. fcruntime keeps
// the process to itself, and the address is unique to one instance.
func findInstance(addr string) int {
	if runtime.GOOS != "linux" || addr == "" {
		return 0
	}
	want := []byte("FC_RUNTIME_API=" + addr + "\x00")
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		env, err := os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
		if err == nil && bytes.Contains(append(env, 0), want) {
			return pid
		}
	}
	return 0
}

// peakRSS reads the process's peak resident set (VmHWM), -1 if unknown.
func peakRSS(pid int) int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				return -1
			}
			return kb << 10
		}
	}
	return -1
}

// requestTally is the HTTP requests each emulator served, by operation.
type requestTally map[string]int

func requestCounts(cloud *localcloud.Cloud) requestTally {
	t := requestTally{}
	for action, n := range cloud.SAS.CallCounts() {
		t["sas "+action] += n
	}
	for op, n := range cloud.MNS.Requests() {
		t["mns "+op] += n
	}
	for _, chat := range cloud.Chats() {
		t[chat.Name] = chat.Requests()
	}
	return t
}

func (t requestTally) total() int {
	n := 0
	for _, v := range t {
		n += v
	}
	return n
}

func (t requestTally) minus(base requestTally) string {
	var parts []string
	for k, v := range t {
		if d := v - base[k]; d != 0 {
			parts = append(parts, fmt.Sprintf("%s=%d", k, d))
		}
	}
	slices.Sort(parts)
	return strings.Join(parts, " ")
}

// phases times the function's work from its invocations' timelines: the
// checks from the first decision to the last, the notifications from the
// first message posted to the last, and the hand-on to the end.
func phases(reps []handler.Report) string {
	var all handler.Timeline
	for _, rep := range reps {
		t := rep.Timeline
		widen(&all.FirstDecided, &all.LastDecided, t.FirstDecided, t.LastDecided)
		widen(&all.FirstPosted, &all.LastPosted, t.FirstPosted, t.LastPosted)
		if t.Ended.After(all.Ended) {
			all.Ended = t.Ended
		}
	}
	if all.FirstDecided.IsZero() {
		return "no decisions reported"
	}
	s := fmt.Sprintf("checks %.3fs (first to last decision)", all.LastDecided.Sub(all.FirstDecided).Seconds())
	last := all.LastDecided
	if !all.FirstPosted.IsZero() {
		s += fmt.Sprintf(", notifications %.3fs (from the last decision %.3fs to the last sent)",
			all.LastPosted.Sub(all.FirstPosted).Seconds(), all.LastPosted.Sub(all.LastDecided).Seconds())
		last = all.LastPosted
	}
	if !all.Ended.IsZero() {
		s += fmt.Sprintf(", hand-on %.3fs", all.Ended.Sub(last).Seconds())
	}
	return s
}

// widen stretches first..last over from..to, a span that may be empty.
func widen(first, last *time.Time, from, to time.Time) {
	if from.IsZero() {
		return
	}
	if first.IsZero() || from.Before(*first) {
		*first = from
	}
	if to.After(*last) {
		*last = to
	}
}
