// Package eventbridge drives a function the way its FC 3.0 triggers do: an
// EventBridge event stream that batch-reads an MNS queue and pushes
// CloudEvents (Stream), and a timer trigger (Timer). Both call the function
// through Invoker, which *fcruntime.Function satisfies.
package eventbridge

import (
	"context"
	"io"
	"log/slog"
	"sync"

	"precheckwatch/localcloud/fcruntime"
)

// Invoker runs the function on one event. A nil error means the function
// succeeded; any error (a function error, a timeout, a lost instance) makes
// the delivery fail.
type Invoker interface {
	Invoke(ctx context.Context, event []byte) (fcruntime.Result, error)
	// InvokeRetry is Invoke for the retryCount-th retry of an
	// asynchronous invocation (x-fc-retry-count).
	InvokeRetry(ctx context.Context, event []byte, retryCount int) (fcruntime.Result, error)
}

// Defaults shared by the triggers; they match fcruntime's.
const (
	defaultRegion    = "cn-hangzhou"
	defaultAccountID = "1234567890123456"
)

func discardLogger(l *slog.Logger) *slog.Logger {
	if l != nil {
		return l
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// counters holds a trigger's statistics for the goroutines that update them.
type counters[T any] struct {
	mu sync.Mutex
	v  T
}

// snapshot returns a copy of the counters.
func (c *counters[T]) snapshot() T {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.v
}

// update changes the counters under their lock.
func (c *counters[T]) update(f func(*T)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	f(&c.v)
}
