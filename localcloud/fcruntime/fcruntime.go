// Package fcruntime runs a real FC function binary the way Function Compute
// 3.0 runs a go1 function: as a child process that long-polls the runtime API
// 2020-11-11 (FC_RUNTIME_API) for work, with the platform's environment and
// the per-invocation headers that fc-runtime-go-sdk turns into the handler's
// context. It keeps FC's failure behaviour: a function that outlives its
// deadline is SIGKILLed and reported as timed out, a process that dies takes
// its in-flight invocations with it, and the next invocation cold-starts a
// fresh instance.
//
// It scales as FC does: an instance takes up to Config.Concurrency
// invocations at once (1 for go1: one invocation at a time), and when every
// instance is busy the next invocation starts another instance, up to
// Config.MaxInstances; further invocations wait for a free one. An instance
// that has been idle for Config.IdleTimeout is reclaimed.
package fcruntime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"precheckwatch/secret"
)

// Limits of FC 3.0 (reference fc-runtime.md §6).
const (
	// MaxSyncPayloadBytes is the largest synchronous request (and response).
	MaxSyncPayloadBytes = 32 << 20
	// MaxAsyncPayloadBytes is the largest asynchronous request (timers,
	// asynchronous MNS delivery).
	MaxAsyncPayloadBytes = 128 << 10
	maxTimeout           = 86400 * time.Second
	maxConcurrency       = 200
	// defaultMaxInstances is FC's default per-region limit of concurrent
	// instances (reference fc-runtime.md §6).
	defaultMaxInstances = 100
	// defaultIdleTimeout is how long an idle instance is kept. FC does not
	// document it (unverified); instances are known to stay warm for
	// minutes.
	defaultIdleTimeout = 5 * time.Minute
)

// Errors an invocation can end with besides a *FunctionError.
var (
	// ErrTimeout means the function was still running at its deadline; its
	// instance was SIGKILLed.
	ErrTimeout = errors.New("function timed out")
	// ErrInstanceDied means the function's process exited (crashed, was
	// killed, or never became ready) before it answered.
	ErrInstanceDied = errors.New("function instance died")
	// ErrClosed means the Function was closed.
	ErrClosed = errors.New("fcruntime: function closed")
	// ErrEntityTooLarge is FC's answer to an oversized event.
	ErrEntityTooLarge = errors.New("EntityTooLarge: payload size exceeds maximum allowed size")
)

// The death causes Kill and the idle reaper give an instance.
var (
	errKilled    = errors.New("killed (Function.Kill)")
	errReclaimed = errors.New("reclaimed after its idle timeout")
)

// FunctionError is the error body a function posted to /error:
// {"errorMessage": ..., "errorType": ...} as fc-runtime-go-sdk writes it
// for a returned error or a recovered panic.
type FunctionError struct {
	Message string `json:"errorMessage"`
	Type    string `json:"errorType"`
}

// Error names the error type and message the function reported.
func (e *FunctionError) Error() string {
	return fmt.Sprintf("function error %s: %s", e.Type, e.Message)
}

// Outcome says how an invocation ended.
type Outcome int

// The outcomes of an invocation.
const (
	// Pending: the caller stopped waiting before the invocation ended.
	Pending Outcome = iota
	// Succeeded: the function posted /response.
	Succeeded
	// Failed: the function posted /error (Result.Error holds the body).
	Failed
	// TimedOut: the deadline passed first; the instance was SIGKILLed.
	TimedOut
	// InstanceDied: the process died before it answered.
	InstanceDied
)

// String is the outcome in words, for logs and reports.
func (o Outcome) String() string {
	switch o {
	case Succeeded:
		return "succeeded"
	case Failed:
		return "failed"
	case TimedOut:
		return "timed out"
	case InstanceDied:
		return "instance died"
	default:
		return "pending"
	}
}

// Result is what came of one invocation.
type Result struct {
	RequestID string
	Outcome   Outcome
	// Body is the /response body (the JSON of the handler's return value)
	// or the /error body, verbatim.
	Body []byte
	// Error is the decoded /error body when Outcome is Failed.
	Error *FunctionError
	// Deadline is the x-fc-function-deadline sent with the invocation.
	Deadline time.Time
	// Duration runs from handing the event to the function to the outcome.
	Duration time.Duration
	// ColdStart is set on the first invocation an instance served.
	ColdStart bool
	// InstanceID is the FC_INSTANCE_ID of the instance that served it.
	InstanceID string
}

// Config describes the function and its platform. Zero fields take the
// defaults named on each.
type Config struct {
	// Binary is the function executable (FC's handler "main"). Required.
	Binary string
	// Env is extra environment ("KEY=value") for the process, FC's
	// environmentVariables. FC_RUNTIME_API cannot be overridden.
	Env []string
	// FunctionName defaults to the base name of Binary.
	FunctionName string
	// Handler defaults to "main".
	Handler string
	// ServiceName, Qualifier (default "LATEST") and VersionID are sent as
	// x-fc-service-name, x-fc-qualifier and x-fc-version-id.
	ServiceName, Qualifier, VersionID string
	// Region defaults to "cn-hangzhou".
	Region string
	// AccountID defaults to "1234567890123456".
	AccountID string
	// MemoryMB defaults to 512.
	MemoryMB int
	// Timeout is the execution limit of one invocation, default 3 s (FC's
	// default). x-fc-function-timeout carries it in whole seconds, rounded
	// up; the deadline header carries it to the millisecond, so tests may
	// use sub-second timeouts.
	Timeout time.Duration
	// Concurrency is instanceConcurrency, 1..200, default 1. A go1
	// instance serves one invocation at a time; larger values emulate the
	// runtimes that take several.
	Concurrency int
	// MaxInstances caps the instances running at once, as
	// concurrencyConfig.reservedConcurrency does; default 100, FC's
	// per-region limit.
	MaxInstances int
	// IdleTimeout is how long an instance with nothing to do lives before
	// it is reclaimed, default 5 min.
	IdleTimeout time.Duration
	// StartTimeout bounds process start to first /invocation/next,
	// default 10 s; an instance that takes longer is killed.
	StartTimeout time.Duration
	// Credentials supplies the function role's STS keys. It is called at
	// each instance start (ALIBABA_CLOUD_* environment) and for each
	// invocation (x-fc-access-key-* headers), so keys can rotate. Nil means
	// no credentials.
	Credentials func() secret.Credentials
	// Stdout and Stderr receive the process's output; nil discards it.
	Stdout, Stderr io.Writer
}

func (c Config) withDefaults() (Config, error) {
	if c.Binary == "" {
		return c, errors.New("fcruntime: Config.Binary is required")
	}
	bin, err := filepath.Abs(c.Binary)
	if err != nil {
		return c, fmt.Errorf("fcruntime: binary %s: %w", c.Binary, err)
	}
	st, err := os.Stat(bin)
	if err != nil {
		return c, fmt.Errorf("fcruntime: binary: %w", err)
	}
	if st.IsDir() || st.Mode().Perm()&0o111 == 0 {
		return c, fmt.Errorf("fcruntime: binary %s is not an executable file", bin)
	}
	c.Binary = bin
	if c.FunctionName == "" {
		c.FunctionName = filepath.Base(bin)
	}
	if c.Handler == "" {
		c.Handler = "main"
	}
	if c.Qualifier == "" {
		c.Qualifier = "LATEST"
	}
	if c.Region == "" {
		c.Region = "cn-hangzhou"
	}
	if c.AccountID == "" {
		c.AccountID = "1234567890123456"
	}
	if c.MemoryMB == 0 {
		c.MemoryMB = 512
	}
	if c.Timeout == 0 {
		c.Timeout = 3 * time.Second
	}
	if c.Concurrency == 0 {
		c.Concurrency = 1
	}
	if c.StartTimeout == 0 {
		c.StartTimeout = 10 * time.Second
	}
	if c.MaxInstances == 0 {
		c.MaxInstances = defaultMaxInstances
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = defaultIdleTimeout
	}
	switch {
	case c.MemoryMB < 0:
		return c, fmt.Errorf("fcruntime: MemoryMB %d is negative", c.MemoryMB)
	case c.Timeout < time.Millisecond || c.Timeout > maxTimeout:
		return c, fmt.Errorf("fcruntime: Timeout %s is outside 1ms..%s", c.Timeout, maxTimeout)
	case c.Concurrency < 1 || c.Concurrency > maxConcurrency:
		return c, fmt.Errorf("fcruntime: Concurrency %d is outside 1..%d", c.Concurrency, maxConcurrency)
	case c.StartTimeout < 0:
		return c, fmt.Errorf("fcruntime: StartTimeout %s is negative", c.StartTimeout)
	case c.MaxInstances < 1:
		return c, fmt.Errorf("fcruntime: MaxInstances %d is under 1", c.MaxInstances)
	case c.IdleTimeout < 0:
		return c, fmt.Errorf("fcruntime: IdleTimeout %s is negative", c.IdleTimeout)
	}
	if c.Stdout == nil {
		c.Stdout = io.Discard
	}
	if c.Stderr == nil {
		c.Stderr = io.Discard
	}
	// One lock for both streams: the same writer is often passed twice,
	// and successive instances write to it from their own goroutines.
	var mu sync.Mutex
	c.Stdout = &lockedWriter{mu: &mu, w: c.Stdout}
	c.Stderr = &lockedWriter{mu: &mu, w: c.Stderr}
	return c, nil
}

// Stats counts what a Function did.
type Stats struct {
	Invocations  int // handed to an instance
	Succeeded    int
	Failed       int // function errors
	TimedOut     int
	InstanceDied int // invocations lost with their instance, or to one that could not start
	ColdStarts   int // instances started
	Kills        int // SIGKILLs for timeouts and Kill
	Reclaimed    int // idle instances stopped after IdleTimeout
	// InFlight is the invocations running now.
	InFlight int
	// PeakInstances is the most instances alive at once; PeakInFlight the
	// most invocations running at once.
	PeakInstances, PeakInFlight int
	// ColdStartTimes holds, per instance that became ready, the time from
	// process start to its first /invocation/next.
	ColdStartTimes []time.Duration
}

// Function is a running function: its instances and the runtime API each
// of them polls.
type Function struct {
	cfg    Config
	closed chan struct{}

	closeOnce sync.Once
	wg        sync.WaitGroup // instance and reaper goroutines

	mu        sync.Mutex
	instances []*instance // alive, oldest first
	inFlight  int         // slots reserved over all instances
	// freed is closed and replaced whenever a slot frees or an instance
	// goes, waking invocations that wait for capacity.
	freed chan struct{}
	stats Stats
	// records are the ended invocations, oldest first; recorded is closed
	// and replaced whenever one is added.
	records  []Result
	recorded chan struct{}
}

// Start validates cfg, starts the first instance and waits (bounded by ctx
// and cfg.StartTimeout) until it asks for work, so a binary that cannot
// start is reported here. ctx bounds only the start; Close ends the
// Function.
func Start(ctx context.Context, cfg Config) (*Function, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	f := &Function{cfg: cfg, closed: make(chan struct{}), freed: make(chan struct{}), recorded: make(chan struct{})}
	f.mu.Lock()
	inst, err := f.startLocked()
	f.mu.Unlock()
	if err != nil {
		f.Close()
		return nil, err
	}
	select {
	case <-inst.ready:
	case <-inst.dead:
		f.Close()
		return nil, fmt.Errorf("fcruntime: start %s: %w: %v", cfg.FunctionName, ErrInstanceDied, inst.deathCause())
	case <-ctx.Done():
		f.Close()
		return nil, fmt.Errorf("fcruntime: start %s: %w", cfg.FunctionName, ctx.Err())
	}
	f.wg.Add(1)
	go f.reap()
	return f, nil
}

// Invoke runs the function on event as a synchronous invocation. The error
// is nil only for Succeeded; a function error is a *FunctionError, a
// timeout ErrTimeout, a lost instance ErrInstanceDied. If ctx ends first,
// Invoke returns ctx.Err() with Outcome Pending, and the function, as on
// FC, runs on until it answers or times out.
func (f *Function) Invoke(ctx context.Context, event []byte) (Result, error) {
	return f.InvokeRetry(ctx, event, 0)
}

// InvokeRetry is Invoke for the retryCount-th retry of an asynchronous
// invocation: the function sees it in x-fc-retry-count.
func (f *Function) InvokeRetry(ctx context.Context, event []byte, retryCount int) (Result, error) {
	if len(event) > MaxSyncPayloadBytes {
		return Result{}, fmt.Errorf("fcruntime: invoke %s: %w", f.cfg.FunctionName, ErrEntityTooLarge)
	}
	if retryCount < 0 {
		return Result{}, fmt.Errorf("fcruntime: retry count %d is negative", retryCount)
	}
	inv := newInvocation(f, event, retryCount)
	if err := f.dispatch(ctx, inv); err != nil {
		outcome := Pending
		if errors.Is(err, ErrInstanceDied) {
			outcome = InstanceDied
		}
		inv.complete(Result{Outcome: outcome}, err)
		return inv.result, err
	}
	select {
	case <-inv.done:
		return inv.result, inv.err
	case <-ctx.Done():
		return Result{RequestID: inv.id, Outcome: Pending}, ctx.Err()
	}
}

// dispatch hands inv to a parked /invocation/next of an instance with a
// free slot, starting an instance when all are busy and waiting when the
// cap is reached. It returns once an instance has taken inv.
func (f *Function) dispatch(ctx context.Context, inv *invocation) error {
	for {
		inst, freed, err := f.reserve()
		if err != nil {
			return err
		}
		if inst == nil {
			select {
			case <-freed:
				continue
			case <-ctx.Done():
				return ctx.Err()
			case <-f.closed:
				return ErrClosed
			}
		}
		select {
		case inst.work <- inv:
			if <-inv.accepted {
				return nil // the slot is released when inv completes
			}
			// The instance was going down: FC routes to a fresh one.
		case <-inst.dead:
			if !inst.wasReady() && !errors.Is(inst.deathCause(), errKilled) {
				// It could not start: another instance would fail alike.
				f.release(inst)
				return fmt.Errorf("fcruntime: invoke %s: %w: %v", f.cfg.FunctionName, ErrInstanceDied, inst.deathCause())
			}
			// Killed, or died between invocations: FC routes to a fresh
			// instance.
		case <-ctx.Done():
			f.release(inst)
			return ctx.Err()
		case <-f.closed:
			f.release(inst)
			return ErrClosed
		}
		f.release(inst)
	}
}

// reserve takes a slot on the live instance that has one (the oldest
// first, as warm instances are preferred), starting an instance if none has
// and the cap allows. With no capacity it returns a nil instance and a
// channel closed when capacity may have freed.
func (f *Function) reserve() (*instance, <-chan struct{}, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	select {
	case <-f.closed:
		return nil, nil, ErrClosed
	default:
	}
	for _, inst := range f.instances {
		if inst.busy < f.cfg.Concurrency && !inst.isDead() {
			f.take(inst)
			return inst, nil, nil
		}
	}
	if len(f.instances) >= f.cfg.MaxInstances {
		return nil, f.freed, nil
	}
	inst, err := f.startLocked()
	if err != nil {
		return nil, nil, err
	}
	f.take(inst)
	return inst, nil, nil
}

// take reserves a slot on inst; f.mu is held.
func (f *Function) take(inst *instance) {
	inst.busy++
	inst.idleSince = time.Time{}
	f.inFlight++
	f.stats.PeakInFlight = max(f.stats.PeakInFlight, f.inFlight)
}

// release frees a slot that take reserved on inst.
func (f *Function) release(inst *instance) {
	f.mu.Lock()
	defer f.mu.Unlock()
	inst.busy--
	f.inFlight--
	if inst.busy == 0 {
		inst.idleSince = time.Now()
	}
	f.wake()
}

// wake tells waiting invocations that capacity may have freed; f.mu is
// held.
func (f *Function) wake() {
	close(f.freed)
	f.freed = make(chan struct{})
}

// startLocked starts an instance and adds it to the live ones; f.mu is
// held.
func (f *Function) startLocked() (*instance, error) {
	inst, err := startInstance(f)
	if err != nil {
		return nil, err
	}
	inst.idleSince = time.Now()
	f.instances = append(f.instances, inst)
	f.stats.ColdStarts++
	f.stats.PeakInstances = max(f.stats.PeakInstances, len(f.instances))
	return inst, nil
}

// gone drops inst from the live instances once its process has exited.
func (f *Function) gone(inst *instance) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.instances = slices.DeleteFunc(f.instances, func(i *instance) bool { return i == inst })
	f.wake()
}

// reap stops instances that have been idle for IdleTimeout, checking a few
// times per IdleTimeout, until the Function closes.
func (f *Function) reap() {
	defer f.wg.Done()
	tick := time.NewTicker(max(f.cfg.IdleTimeout/4, time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case <-f.closed:
			return
		case <-tick.C:
		}
		f.mu.Lock()
		var idle []*instance
		f.instances = slices.DeleteFunc(f.instances, func(i *instance) bool {
			if i.busy == 0 && !i.idleSince.IsZero() && time.Since(i.idleSince) >= f.cfg.IdleTimeout {
				idle = append(idle, i)
				return true
			}
			return false
		})
		f.stats.Reclaimed += len(idle)
		f.mu.Unlock()
		for _, inst := range idle {
			inst.stop(errReclaimed)
		}
	}
}

// Kill SIGKILLs one instance, as a chaos test does at random moments: a
// busy one if any (the oldest), else the oldest idle one. Its in-flight
// invocations end as InstanceDied, and invocations not yet handed over go
// to another instance. It reports whether a live instance was killed.
func (f *Function) Kill() bool {
	f.mu.Lock()
	var victim *instance
	for _, inst := range f.instances {
		if inst.isDead() {
			continue
		}
		if victim == nil || (victim.busy == 0 && inst.busy > 0) {
			victim = inst
		}
	}
	f.mu.Unlock()
	if victim == nil {
		return false
	}
	return victim.kill(errKilled)
}

// Instances is how many instances are alive now.
func (f *Function) Instances() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.instances)
}

// RuntimeAPI is the FC_RUNTIME_API address (host:port) of the oldest live
// instance, or "" if none runs. Each instance has its own, so a request
// from a dead instance can never complete a new instance's invocation.
func (f *Function) RuntimeAPI() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, inst := range f.instances {
		if !inst.isDead() {
			return inst.addr
		}
	}
	return ""
}

// Stats returns a snapshot of the counters.
func (f *Function) Stats() Stats {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.stats
	s.InFlight = f.inFlight
	s.ColdStartTimes = append([]time.Duration(nil), f.stats.ColdStartTimes...)
	return s
}

// Records returns the invocation records from the from-th on (counting from
// 0): the Result of every invocation that ended, in the order they ended,
// whoever invoked it, as FC keeps an invocation's status and return payload
// for its caller to look up. The channel is closed when another ends, so a
// caller can wait for the next one.
func (f *Function) Records(from int) ([]Result, <-chan struct{}) {
	f.mu.Lock()
	defer f.mu.Unlock()
	from = min(max(from, 0), len(f.records))
	return slices.Clone(f.records[from:]), f.recorded
}

// record keeps r as an invocation record.
func (f *Function) record(r Result) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.records = append(f.records, r)
	close(f.recorded)
	f.recorded = make(chan struct{})
}

// Close kills every instance, fails invocations still in flight with
// ErrInstanceDied, and waits for every process and goroutine it started.
func (f *Function) Close() error {
	f.closeOnce.Do(func() {
		f.mu.Lock()
		close(f.closed)
		live := f.instances
		f.instances = nil
		f.mu.Unlock()
		for _, inst := range live {
			inst.stop(ErrClosed)
		}
		f.wg.Wait()
	})
	return nil
}

func (f *Function) count(update func(*Stats)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	update(&f.stats)
}

// invocation is one event on its way through an instance.
type invocation struct {
	f          *Function
	id         string
	event      []byte
	retryCount int
	accepted   chan bool // the instance's answer to each hand-over

	once     sync.Once
	done     chan struct{}
	host     *instance   // whose slot it holds; set at hand-over
	timer    *time.Timer // the deadline; set at hand-over
	deadline time.Time
	started  time.Time
	cold     bool
	instance string
	result   Result
	err      error
}

func newInvocation(f *Function, event []byte, retryCount int) *invocation {
	return &invocation{
		f:          f,
		id:         requestID(),
		event:      event,
		retryCount: retryCount,
		accepted:   make(chan bool, 1),
		done:       make(chan struct{}),
	}
}

// complete records the outcome once and frees the invocation's slot. The
// fields set at hand-over are read here under once, after the instance
// lock that published them.
func (inv *invocation) complete(r Result, err error) {
	inv.once.Do(func() {
		if inv.timer != nil {
			inv.timer.Stop()
		}
		r.RequestID = inv.id
		r.Deadline = inv.deadline
		r.ColdStart = inv.cold
		r.InstanceID = inv.instance
		if !inv.started.IsZero() {
			r.Duration = time.Since(inv.started)
		}
		inv.result, inv.err = r, err
		inv.f.count(func(s *Stats) {
			switch r.Outcome {
			case Succeeded:
				s.Succeeded++
			case Failed:
				s.Failed++
			case TimedOut:
				s.TimedOut++
			case InstanceDied:
				s.InstanceDied++
			}
		})
		// The slot is freed before the record is kept, so whoever the
		// record wakes sees the invocation no longer in flight.
		if inv.host != nil {
			inv.f.release(inv.host)
		}
		if r.Outcome != Pending {
			inv.f.record(r)
		}
		close(inv.done)
	})
}

// answered completes inv with what the function posted.
func (inv *invocation) answered(success bool, body []byte) {
	if success {
		inv.complete(Result{Outcome: Succeeded, Body: body}, nil)
		return
	}
	fe := &FunctionError{}
	if err := json.Unmarshal(body, fe); err != nil || (fe.Message == "" && fe.Type == "") {
		fe = &FunctionError{Message: string(body), Type: "UnparsableErrorBody"}
	}
	inv.complete(Result{Outcome: Failed, Body: body, Error: fe}, fe)
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
