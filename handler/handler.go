package handler

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"precheckwatch/failure"
	"precheckwatch/ledger"
	"precheckwatch/notify"
	"precheckwatch/precheck"
	"precheckwatch/secret"
)

// Deps are the function's connections to the outside.
type Deps struct {
	Checker Checker
	Queues  Queues
	// Sinks are the configured chat channels; none is allowed.
	Sinks  []notify.Sink
	Ledger ledger.Ledger
	// Fleet starts fleet runs for fleet timers; nil refuses them.
	Fleet FleetStarter
	Log   *slog.Logger
	// Now and Jitter default to the wall clock and math/rand.
	Now    func() time.Time
	Jitter func() float64
}

// Handler runs invocations. It is safe for concurrent invocations.
type Handler struct {
	cfg     Settings
	d       Deps
	limiter *rate.Limiter
	// alerted stands in for the ledger's alert windows while the ledger
	// itself cannot be reached.
	alerted *alertWindows
}

// Settings are what the handler is configured to do.
type Settings struct {
	// Queue is the pending queue; DeadLetterQueue takes unreadable
	// messages.
	Queue, DeadLetterQueue string
	// Policy is the backoff and the deadlines of a task.
	Policy precheck.Policy
	// CheckConcurrency is how many tasks are checked at once, and
	// SASRateLimit the Security Center queries allowed a second.
	CheckConcurrency int
	SASRateLimit     float64
	// DigestThreshold is the most verdicts a channel gets one message
	// each; more go out as digests.
	DigestThreshold int
	// NotifyStarted posts a "precheck running" notice for each new task.
	NotifyStarted bool
	// ChangesOnly posts a fleet run's verdict only when its database's
	// verdict changed (NOTIFY_MODE=changes).
	ChangesOnly bool
	// Credentials are the keys used when an invocation carries none.
	Credentials secret.Credentials
	// HoldMax bounds the messages a sweep holds at once; DefaultHoldMax
	// when zero.
	HoldMax int
}

// DefaultHoldMax is the most messages a sweep holds at once. A sweep that
// receives faster than its channels can post holds every verdict waiting
// for them, and the keeper must hide every one of them until it is handed
// on: past this many it stops receiving until some are handed on, so its
// memory stays flat whatever the backlog, and what it could not get to
// stays on the queue, untouched, for the next sweep. It is s.yaml's sweep
// size, and what the keeper can extend in the time it keeps ahead of a
// visibility's end (keepers at once, each call 50 ms away: 1,600).
const DefaultHoldMax = 1000

// New returns a handler with settings s.
func New(s Settings, d Deps) *Handler {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Jitter == nil {
		d.Jitter = rand.Float64
	}
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	return &Handler{
		cfg:     s,
		d:       d,
		limiter: rate.NewLimiter(rate.Limit(s.SASRateLimit), SASBurst(s.SASRateLimit)),
		alerted: &alertWindows{sent: map[ledger.Key]time.Time{}},
	}
}

// SASBurst is how many Security Center calls SAS_RATE_LIMIT (limit a
// second) lets go at once: its token bucket holds a second's worth, at
// least one, and starts full.
func SASBurst(limit float64) int { return max(1, int(limit)) }

// ErrNotHandedOn is returned when some task could be neither finished nor put
// back on the queue, so that FC or EventBridge retries the invocation.
var ErrNotHandedOn = errors.New("some tasks could not be handed on; retry the invocation")

// Handle runs one invocation of raw, the event as FC delivered it.
func (h *Handler) Handle(ctx context.Context, inv Invocation, raw []byte) (Report, error) {
	log := h.d.Log.With("requestId", inv.RequestID)
	ev, err := DecodeEvent(raw)
	if err != nil {
		log.Error("event rejected", "error", err)
		return Report{RequestID: inv.RequestID}, err
	}
	inv.Credentials = h.credentials(inv)
	if ev.Trigger == FleetTrigger {
		return h.startFleet(ctx, inv, ev.Fleet)
	}
	start := h.d.Now()
	t := newTally(inv.RequestID, ev.Trigger, start)
	r := &run{h: h, inv: inv, log: log, tally: t, start: start, times: h.plan(ctx), causes: map[string]*alertCause{}, putBack: map[uint64]struct{}{}, putBackSeed: maphash.MakeSeed()}
	err = r.execute(ctx, ev)
	rep := t.report()
	rep.Timeline.Ended = h.d.Now()
	log.Info("invocation done", "trigger", rep.Trigger, "received", rep.Received, "checked", rep.Checked,
		"finished", rep.Finished, "requeued", rep.Requeued, "redelivering", rep.Redelivering,
		"deadLettered", rep.DeadLettered, "notified", rep.Notified, "recordErrors", rep.RecordErrors, "notHandedOn", rep.NotHandedOn)
	if err != nil {
		return rep, err
	}
	if rep.NotHandedOn > 0 {
		return rep, fmt.Errorf("%d of %d tasks: %w", rep.NotHandedOn, rep.Received, ErrNotHandedOn)
	}
	return rep, nil
}

// credentials are the invocation's STS keys, or the environment's.
func (h *Handler) credentials(inv Invocation) secret.Credentials {
	if inv.Credentials.Complete() {
		return inv.Credentials
	}
	return h.cfg.Credentials
}

// times splits an invocation's time: checks stop at checkUntil, deliveries
// at notifyUntil, and the rest is kept to hand every task on before the
// deadline, when FC stops the invocation at the latest.
type times struct {
	checkUntil time.Time
	// callUntil lets a call that started just before checkUntil finish,
	// taking at most a quarter of the delivery time.
	callUntil   time.Time
	notifyUntil time.Time
	handUntil   time.Time
	deadline    time.Time
}

// plan divides the time left before ctx's deadline.
func (h *Handler) plan(ctx context.Context) times {
	now := h.d.Now()
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = now.Add(5 * time.Minute)
	}
	left := deadline.Sub(now)
	handOn := min(max(left/10, time.Second), 10*time.Second)
	notify := min(max(left/5, 2*time.Second), 60*time.Second)
	return times{
		checkUntil:  deadline.Add(-handOn - notify),
		callUntil:   deadline.Add(-handOn - notify + min(notify/4, 2*time.Second)),
		notifyUntil: deadline.Add(-handOn),
		handUntil:   deadline.Add(-200 * time.Millisecond),
		deadline:    deadline,
	}
}

// run is one invocation in progress.
type run struct {
	h     *Handler
	inv   Invocation
	log   *slog.Logger
	tally *tally
	// start is when the invocation began.
	start time.Time
	times times

	pending Queue
	keep    *keeper
	hand    *handOn
	dlqOnce sync.Once
	dlq     Queue
	dlqErr  error

	mu     sync.Mutex
	causes map[string]*alertCause
	// putBack holds the tasks this invocation put back on the queue
	// (requeued, redelivering or held), by a hash of their ids; lapped is
	// set when a sweep meets one of them, having come round to what it put
	// back itself. A hash collision only ends the sweep early: the task
	// waits on the queue for the next.
	putBack     map[uint64]struct{}
	putBackSeed maphash.Seed
	lapped      bool

	ends runEnds
}

type alertCause struct {
	alert    notify.Alert
	affected int
}

func (r *run) execute(ctx context.Context, ev Event) error {
	q, err := r.h.d.Queues.Open(ctx, r.inv, r.h.cfg.Queue)
	if err != nil {
		r.log.Error("cannot open the pending queue", "queue", r.h.cfg.Queue, "error", err)
		if ev.Trigger != TimerTrigger {
			r.tally.add(func(rep *Report) { rep.NotHandedOn += max(len(ev.Messages), 1) })
		}
		return fmt.Errorf("open queue %s: %w", r.h.cfg.Queue, err)
	}
	r.pending = q

	hand := newHandOn(r)
	r.hand = hand
	r.keep = newKeeper(r)
	kctx, stopKeeping := context.WithCancel(ctx)
	kept := make(chan struct{})
	go func() { r.keep.run(kctx); close(kept) }()
	defer func() { stopKeeping(); <-kept }()

	// A page's worth of room lets a receiver go back to the queue while the
	// workers are still taking its page: otherwise each receive waits for
	// the last of its page to be taken, and two receivers only just keep
	// the workers fed.
	jobs := make(chan *job, batchSize)
	go r.produce(ctx, ev, jobs)

	var wg sync.WaitGroup
	couriers := make([]*courier, len(r.h.d.Sinks))
	for i, sink := range r.h.d.Sinks {
		couriers[i] = newCourier(ctx, r, sink)
	}
	for range r.h.cfg.CheckConcurrency {
		wg.Go(func() {
			for j := range jobs {
				r.check(ctx, j)
				for _, d := range r.decided(ctx, j) {
					switch {
					case d.kind != finishedJob:
						hand.add(ctx, d)
					case len(couriers) == 0 || d.quiet:
						r.handOnFinished(ctx, d)
					default:
						d.await(len(couriers))
						for _, c := range couriers {
							c.offer(ctx, d)
						}
					}
				}
				if !j.fromEvent {
					r.keep.checked()
				}
			}
		})
	}
	wg.Wait()
	for _, c := range couriers {
		c.finish()
	}
	r.endRuns(ctx, ev.Trigger)
	r.alertOperators(ctx)
	hand.flush(ctx)
	r.tally.add(func(rep *Report) { rep.PeakHeld = r.keep.peakHeld() })
	return nil
}

// produce feeds jobs: a sweep of the pending queue for a timer, the event's
// messages otherwise.
func (r *run) produce(ctx context.Context, ev Event, jobs chan<- *job) {
	defer close(jobs)
	switch ev.Trigger {
	case TimerTrigger:
		r.sweep(ctx, ev.Sweep.MaxTasks, jobs)
	case MNSTrigger:
		r.tally.add(func(rep *Report) { rep.Received += len(ev.Messages) })
		for page := range slices.Chunk(ev.Messages, eventPage) {
			batch := make([]*job, len(page))
			for i, m := range page {
				batch[i] = &job{msg: Message{ID: m.ID, Body: m.Body}, raw: m.Raw, problem: m.Problem, fromEvent: true}
				if m.Problem == "" {
					batch[i].raw = m.Body
				}
			}
			r.prepare(ctx, batch)
			for _, j := range batch {
				jobs <- j
			}
		}
	case TaskTrigger:
		r.tally.add(func(rep *Report) { rep.Received++ })
		j := &job{msg: Message{Body: ev.Task}, raw: ev.Task, fromEvent: true}
		r.prepare(ctx, []*job{j})
		jobs <- j
	}
}

// eventPage is how many of an event's messages are prepared at once.
const eventPage = 100

// receivers is how many batch receives a sweep keeps in flight: enough to
// keep CHECK_CONCURRENCY workers fed when each call has network latency.
const receivers = 2

// batchSize is MNS's limit for batch receive, send and delete.
const batchSize = 16

// sweep receives up to maxTasks messages, without long polling: an empty
// queue ends the sweep, and so does a task met twice, since the sweep has
// then come round to the messages it requeued itself.
func (r *run) sweep(ctx context.Context, maxTasks int, jobs chan<- *job) {
	var (
		mu       sync.Mutex
		reserved int
		empty    bool
		wg       sync.WaitGroup
	)
	take := func() int {
		mu.Lock()
		defer mu.Unlock()
		if empty || reserved >= maxTasks || r.hasLapped() || !r.h.d.Now().Before(r.times.checkUntil) {
			return 0
		}
		n := min(batchSize, maxTasks-reserved)
		reserved += n
		return n
	}
	// Room for two receives at least, so that what waits for a full send
	// batch never stops the sweep.
	holdMax := max(cmp.Or(r.h.cfg.HoldMax, DefaultHoldMax), receivers*batchSize)
	for range receivers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := take(); n > 0 && ctx.Err() == nil; n = take() {
				if !r.keep.room(ctx, n, holdMax) {
					mu.Lock()
					reserved -= n
					mu.Unlock()
					return
				}
				// A receive that hangs must not eat the time kept for
				// delivering and handing on what was already checked.
				cctx, cancel := context.WithDeadline(ctx, r.times.checkUntil)
				msgs, err := r.pending.Receive(cctx, n)
				cancel()
				mu.Lock()
				reserved -= n - len(msgs)
				if err == nil && len(msgs) == 0 {
					empty = true
				}
				mu.Unlock()
				if err != nil {
					r.keep.arrived(n)
					r.serviceError("mns", "receive", err)
					return
				}
				r.tally.add(func(rep *Report) { rep.Received += len(msgs) })
				// Held from the moment they arrive: a worker may take
				// the last of the batch only much later.
				batch := make([]*job, len(msgs))
				for i, m := range msgs {
					batch[i] = &job{msg: m, raw: m.Body}
					r.keep.hold(batch[i])
				}
				r.keep.arrived(n)
				r.prepare(ctx, batch)
				for _, j := range batch {
					jobs <- j
				}
			}
		}()
	}
	wg.Wait()
}

// see notes that taskID is being checked, and whether this invocation put
// it back on the queue itself.
func (r *run) see(taskID string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.putBack[maphash.String(r.putBackSeed, taskID)]; ok {
		r.lapped = true
	}
}

// putsBack notes that taskID goes back on the queue to be checked again.
func (r *run) putsBack(taskID string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.putBack[maphash.String(r.putBackSeed, taskID)] = struct{}{}
}

func (r *run) hasLapped() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.lapped
}

// serviceError counts a failed call and remembers an auth failure for the
// operator alert.
func (r *run) serviceError(service, op string, err error) {
	class, code := classOf(err)
	r.tally.add(func(rep *Report) { rep.Errors[service+"_"+class.String()]++ })
	r.log.Warn("call failed", "service", service, "op", op, "class", class.String(), "error", err)
	if class == failure.Auth {
		r.noteAuth(cause(service, err), notify.Alert{Cause: notify.ServiceDenied, Service: notify.Service(service), Code: code, Detail: err.Error()})
	}
}

// recordCause names the delivery record's failure for the operator.
const recordCause = "delivery record (DEDUPE_URL) unreachable"

// ledgerError counts a failed call to the delivery record and alerts the
// operator: while the record cannot be reached nothing is posted.
func (r *run) ledgerError(op string, err error) {
	r.tally.add(func(rep *Report) { rep.RecordErrors++ })
	r.log.Error("delivery record call failed", "op", op, "error", err)
	r.noteAuth(recordCause, notify.Alert{Cause: notify.RecordUnreachable, Detail: err.Error()})
}

func (r *run) noteAuth(c string, alert notify.Alert) {
	r.mu.Lock()
	defer r.mu.Unlock()
	a := r.causes[c]
	if a == nil {
		a = &alertCause{alert: alert}
		r.causes[c] = a
	}
	a.affected++
}

// alertWindows remembers which operator alerts this instance sent in
// their window, for when the ledger cannot.
type alertWindows struct {
	mu   sync.Mutex
	sent map[ledger.Key]time.Time
}

// first reports whether key was not sent within alertWindow before now,
// and marks it sent.
func (a *alertWindows) first(key ledger.Key, now time.Time) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	for k, at := range a.sent {
		if now.Sub(at) >= alertWindow {
			delete(a.sent, k)
		}
	}
	if _, ok := a.sent[key]; ok {
		return false
	}
	a.sent[key] = now
	return true
}

// forget unmarks key after its send failed.
func (a *alertWindows) forget(key ledger.Key) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.sent, key)
}

// sleep waits d or until ctx ends; it reports whether the full wait passed.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
