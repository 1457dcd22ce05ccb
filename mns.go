package main

import (
	"context"
	"errors"
	"sync"
	"time"

	"precheckwatch/config"
	"precheckwatch/failure"
	"precheckwatch/handler"
	"precheckwatch/queue"
)

// mnsQueues opens MNS queues for invocations: one connection pool per
// endpoint and queue, signed with each invocation's own credentials.
type mnsQueues struct {
	cfg config.Config

	mu     sync.Mutex
	opened map[string]*queue.Queue // by endpoint and name
}

func newMNSQueues(cfg config.Config) *mnsQueues {
	return &mnsQueues{cfg: cfg, opened: map[string]*queue.Queue{}}
}

// Open implements handler.Queues.
func (m *mnsQueues) Open(_ context.Context, inv handler.Invocation, name string) (handler.Queue, error) {
	q, err := m.queueFor(inv, name)
	if err != nil {
		return nil, err
	}
	return mnsQueue{q: q, deadLetters: name == m.cfg.DeadLetterQueue}, nil
}

// queueFor returns queue name signed with the invocation's credentials.
func (m *mnsQueues) queueFor(inv handler.Invocation, name string) (*queue.Queue, error) {
	endpoint, err := m.cfg.MNSEndpointFor(inv.Region, inv.AccountID)
	if err != nil {
		return nil, &failure.Error{Service: "mns", Op: "open", Class: failure.Permanent, Message: err.Error()}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	key := endpoint + " " + name
	q, ok := m.opened[key]
	if !ok {
		q, err = queue.Open(queue.Config{Endpoint: endpoint, Name: name})
		if err != nil {
			return nil, &failure.Error{Service: "mns", Op: "open", Class: failure.Permanent, Message: err.Error()}
		}
		m.opened[key] = q
	}
	creds := inv.Credentials
	if !creds.Complete() {
		creds = m.cfg.Credentials
	}
	return q.WithCredentials(creds), nil
}

// mnsQueue adapts one queue to the handler.
type mnsQueue struct {
	q *queue.Queue
	// deadLetters marks the dead-letter queue, whose bodies are kept as
	// MNS can carry them (queue.DeadLetterBody): byte for byte where it can,
	// base64 where it cannot, cut to fit when too long.
	deadLetters bool
}

func (a mnsQueue) Receive(ctx context.Context, max int) ([]handler.Message, error) {
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

func (a mnsQueue) Send(ctx context.Context, msgs []handler.Outgoing) []error {
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

func (a mnsQueue) Delete(ctx context.Context, handles []string) []error {
	// Lost handles are not failures: those messages come back by themselves.
	_, err := a.q.Delete(ctx, handles...)
	return perEntry(len(handles), err)
}

func (a mnsQueue) ChangeVisibility(ctx context.Context, handle string, d time.Duration) (string, error) {
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
