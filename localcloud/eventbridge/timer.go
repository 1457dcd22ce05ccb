package eventbridge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"precheckwatch/localcloud/fcruntime"
)

// TimerConfig configures a Timer: the trigger's name and triggerConfig.
type TimerConfig struct {
	// Name is the triggerName, default "timer".
	Name string
	// Payload is the trigger's payload string, passed verbatim.
	Payload string
	// Interval is the period of Run (cronExpression "@every <Interval>").
	Interval time.Duration
	// Retries is asyncInvokeConfig.maxAsyncRetryAttempts: how often a
	// failed asynchronous invocation is repeated, default 3; negative
	// means none.
	Retries int
	// RetryScale multiplies the waits between those retries, default 1
	// (real time).
	RetryScale float64
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger receives failed invocations of Run; nil discards them.
	Logger *slog.Logger
}

// asyncRetryDelay is the wait before asynchronous retry n (1-based). FC
// documents the retry count, not the spacing (unverified): it grows, here
// 1 s, 2 s, 4 s.
func asyncRetryDelay(n int) time.Duration { return time.Second << (n - 1) }

// TimerStats counts what a Timer did.
type TimerStats struct {
	Fired       int // firings, by Fire or Run
	Invocations int // invocations made, retries included
	Retries     int // invocations that repeated a failed one
	Failed      int // asynchronous invocations that failed every retry
}

// Timer is a timer trigger.
type Timer struct {
	cfg     TimerConfig
	invoker Invoker

	stats counters[TimerStats]
}

// NewTimer validates cfg and returns a timer that invokes invoker.
func NewTimer(invoker Invoker, cfg TimerConfig) (*Timer, error) {
	if invoker == nil {
		return nil, errors.New("eventbridge: NewTimer needs an Invoker")
	}
	if cfg.Name == "" {
		cfg.Name = "timer"
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	switch {
	case cfg.Retries == 0:
		cfg.Retries = 3
	case cfg.Retries < 0:
		cfg.Retries = 0
	}
	if cfg.RetryScale == 0 {
		cfg.RetryScale = 1
	}
	if cfg.Interval < 0 {
		return nil, fmt.Errorf("eventbridge: timer Interval %s is negative", cfg.Interval)
	}
	if cfg.RetryScale < 0 {
		return nil, fmt.Errorf("eventbridge: timer RetryScale %g is negative", cfg.RetryScale)
	}
	cfg.Logger = discardLogger(cfg.Logger)
	t := &Timer{cfg: cfg, invoker: invoker}
	// Timers invoke asynchronously, so the event must fit 128 KB.
	if n := len(t.event(cfg.Now())); n > fcruntime.MaxAsyncPayloadBytes {
		return nil, fmt.Errorf("eventbridge: timer %s: event of %d bytes: %w", cfg.Name, n, fcruntime.ErrEntityTooLarge)
	}
	return t, nil
}

// timerEvent is the timer trigger's event (fc-runtime-go-sdk
// events/timer.go TimerEvent).
type timerEvent struct {
	TriggerTime string `json:"triggerTime"`
	TriggerName string `json:"triggerName"`
	Payload     string `json:"payload"`
}

// event is the timer event for a firing at t: triggerTime in RFC 3339 UTC,
// whole seconds, as FC sends it.
func (t *Timer) event(at time.Time) []byte {
	b, _ := json.Marshal(timerEvent{
		TriggerTime: at.UTC().Truncate(time.Second).Format(time.RFC3339),
		TriggerName: t.cfg.Name,
		Payload:     t.cfg.Payload,
	})
	return b
}

// Fire invokes the function once now and waits for its result, as a
// synchronous `s invoke` with the trigger's event does; it is not retried.
func (t *Timer) Fire(ctx context.Context) (fcruntime.Result, error) {
	t.count(func(s *TimerStats) { s.Fired++; s.Invocations++ })
	return t.invoker.Invoke(ctx, t.event(t.cfg.Now()))
}

// FireAsync is one firing as the trigger makes it: an asynchronous
// invocation, retried up to Retries times while it fails, each retry
// carrying its number in x-fc-retry-count. It returns nil when an attempt
// succeeds, else the last attempt's error (or ctx's, if it ended first).
func (t *Timer) FireAsync(ctx context.Context) error {
	t.count(func(s *TimerStats) { s.Fired++ })
	event := t.event(t.cfg.Now())
	var err error
	for attempt := 0; attempt <= t.cfg.Retries; attempt++ {
		if attempt > 0 {
			t.count(func(s *TimerStats) { s.Retries++ })
			if !sleep(ctx, time.Duration(float64(asyncRetryDelay(attempt))*t.cfg.RetryScale)) {
				return ctx.Err()
			}
		}
		t.count(func(s *TimerStats) { s.Invocations++ })
		if _, err = t.invoker.InvokeRetry(ctx, event, attempt); err == nil || ctx.Err() != nil || errors.Is(err, fcruntime.ErrClosed) {
			return err
		}
		t.cfg.Logger.Warn("eventbridge: timer invocation failed", "trigger", t.cfg.Name,
			"attempt", attempt+1, "of", t.cfg.Retries+1, "err", err)
	}
	t.count(func(s *TimerStats) { s.Failed++ })
	return err
}

// Stats returns a snapshot of the counters.
func (t *Timer) Stats() TimerStats { return t.stats.snapshot() }

func (t *Timer) count(update func(*TimerStats)) { t.stats.update(update) }

// Run fires every Interval until ctx ends, then waits for the invocations
// in flight and returns nil. Timer invocations are asynchronous: a firing
// does not wait for the previous one, so sweeps overlap when an invocation
// outlasts the Interval, and each is retried on error.
func (t *Timer) Run(ctx context.Context) error {
	if t.cfg.Interval <= 0 {
		return fmt.Errorf("eventbridge: timer %s has no Interval to run on", t.cfg.Name)
	}
	ticker := time.NewTicker(t.cfg.Interval)
	defer ticker.Stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
		}
		wg.Go(func() { _ = t.FireAsync(ctx) }) // failures are counted and logged
	}
}
