package function

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"precheckwatch/config"
	"precheckwatch/failure"
	"precheckwatch/handler"
	"precheckwatch/precheck"
	"precheckwatch/queue"
)

// Queues opens MNS queues for the handler's invocations: one connection pool
// per endpoint and queue, signed with each invocation's own credentials.
type Queues struct {
	cfg config.Config

	mu     sync.Mutex
	opened map[string]*queue.Queue // by endpoint and name
}

// NewQueues returns the Queues of the function configured by cfg.
func NewQueues(cfg config.Config) *Queues {
	return &Queues{cfg: cfg, opened: map[string]*queue.Queue{}}
}

// Open implements handler.Queues.
func (p *Queues) Open(_ context.Context, inv handler.Invocation, name string) (handler.Queue, error) {
	q, err := p.queueFor(inv, name)
	if err != nil {
		return nil, err
	}
	return handlerQueue{q: q, deadLetters: name == p.cfg.DeadLetterQueue}, nil
}

// queueFor returns queue name signed with the invocation's credentials.
func (p *Queues) queueFor(inv handler.Invocation, name string) (*queue.Queue, error) {
	endpoint, err := p.cfg.MNSEndpointFor(inv.Region, inv.AccountID)
	if err != nil {
		return nil, &failure.Error{Service: "mns", Op: "open", Class: failure.Permanent, Message: err.Error()}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	key := endpoint + " " + name
	q, ok := p.opened[key]
	if !ok {
		q, err = queue.Open(queue.Config{Endpoint: endpoint, Name: name})
		if err != nil {
			return nil, &failure.Error{Service: "mns", Op: "open", Class: failure.Permanent, Message: err.Error()}
		}
		p.opened[key] = q
	}
	creds := inv.Credentials
	if !creds.Complete() {
		creds = p.cfg.Credentials
	}
	return q.WithCredentials(creds), nil
}

// ErrBadConfig marks an Enqueue that failed on configuration rather than
// on the way to MNS.
var ErrBadConfig = errors.New("bad queue configuration")

// Enqueue puts t on cfg's pending queue, signed with cfg's keys.
func Enqueue(ctx context.Context, cfg config.Config, t precheck.Task) error {
	q, err := NewQueues(cfg).Open(ctx, handler.Invocation{Region: cfg.Region, AccountID: cfg.AccountID, Credentials: cfg.Credentials}, cfg.Queue)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrBadConfig, err)
	}
	body, err := t.Encode()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if errs := q.Send(ctx, []handler.Outgoing{{Body: body}}); len(errs) > 0 && errs[0] != nil {
		return fmt.Errorf("send to %s: %w", cfg.Queue, errs[0])
	}
	return nil
}

// handlerQueue adapts one queue to the handler.
type handlerQueue struct {
	q *queue.Queue
	// deadLetters marks the dead-letter queue, whose bodies are kept as
	// MNS can carry them (queue.DeadLetterBody): byte for byte where it can,
	// base64 where it cannot, cut to fit when too long.
	deadLetters bool
}

func (a handlerQueue) Receive(ctx context.Context, max int) ([]handler.Message, error) {
	msgs, err := a.q.Receive(ctx, max, 0)
	if err != nil {
		return nil, err
	}
	out := make([]handler.Message, len(msgs))
	for i, m := range msgs {
		out[i] = handler.Message{ID: m.ID, Handle: m.Handle, Body: []byte(m.Body),
			VisibleAt: m.NextVisibleTime, DequeueCount: m.DequeueCount}
	}
	return out, nil
}

func (a handlerQueue) Send(ctx context.Context, msgs []handler.Outgoing) []error {
	out := make([]queue.Outgoing, len(msgs))
	for i, m := range msgs {
		body := string(m.Body)
		if a.deadLetters {
			body = queue.DeadLetterBody(m.Body)
		}
		out[i] = queue.Outgoing{Body: body, Delay: m.Delay}
	}
	return perEntry(len(msgs), a.q.Send(ctx, out))
}

func (a handlerQueue) Delete(ctx context.Context, handles []string) []error {
	// Lost handles are not failures: those messages come back by themselves.
	_, err := a.q.Delete(ctx, handles...)
	return perEntry(len(handles), err)
}

func (a handlerQueue) ChangeVisibility(ctx context.Context, handle string, d time.Duration) (string, error) {
	next, err := a.q.ChangeVisibility(ctx, handle, d)
	return next, err
}

// perEntry spreads a batch error over its entries.
func perEntry(n int, err error) []error {
	errs := make([]error, n)
	if err == nil {
		return errs
	}
	var be *queue.BatchError
	if errors.As(err, &be) {
		for _, f := range be.Failures {
			if f.Index >= 0 && f.Index < n {
				errs[f.Index] = f.Err
			}
		}
		return errs
	}
	for i := range errs {
		errs[i] = err
	}
	return errs
}
