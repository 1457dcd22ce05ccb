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
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger receives failed invocations of Run; nil discards them.
	Logger *slog.Logger
}

// Timer is a timer trigger.
type Timer struct {
	cfg     TimerConfig
	invoker Invoker

	mu    sync.Mutex
	fired int
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
	if cfg.Interval < 0 {
		return nil, fmt.Errorf("eventbridge: timer Interval %s is negative", cfg.Interval)
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

// Fire invokes the function once now, as the trigger would.
func (t *Timer) Fire(ctx context.Context) (fcruntime.Result, error) {
	t.mu.Lock()
	t.fired++
	t.mu.Unlock()
	return t.invoker.Invoke(ctx, t.event(t.cfg.Now()))
}

// Fired counts the firings so far.
func (t *Timer) Fired() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.fired
}

// Run fires every Interval until ctx ends, then returns nil. A firing
// waits for the previous invocation to end, and ticks that pass meanwhile
// are dropped (FC would queue them as asynchronous invocations).
func (t *Timer) Run(ctx context.Context) error {
	if t.cfg.Interval <= 0 {
		return fmt.Errorf("eventbridge: timer %s has no Interval to run on", t.cfg.Name)
	}
	ticker := time.NewTicker(t.cfg.Interval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
		}
		if _, err := t.Fire(ctx); err != nil && ctx.Err() == nil {
			t.cfg.Logger.Warn("eventbridge: timer invocation failed", "trigger", t.cfg.Name, "err", err)
		}
	}
}
