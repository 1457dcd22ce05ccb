package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"precheckwatch/config"
	"precheckwatch/handler"
	"precheckwatch/precheck"
	"precheckwatch/queue"
)

// runRedrive moves messages from a dead-letter queue back to the pending
// queue, once whatever made them fail is fixed.
func runRedrive(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("redrive", "redrive [--from QUEUE] [--dry-run] [--max N]", stdout, stderr)
	from := fs.String("from", "", "dead-letter queue to move messages from; default PRECHECK_DEAD_LETTER_QUEUE (EventBridge's own is precheck-event-dead-letter)")
	dryRun := fs.Bool("dry-run", false, "list what would move and what would stay, and move nothing")
	limit := fs.Int("max", 1000, "look at no more than this many messages")
	if code, ok := fs.parse(args); !ok {
		return code
	}
	cfg, ok := loadConfig(stderr)
	if !ok {
		return exitConfig
	}
	source := *from
	if source == "" {
		source = cfg.DeadLetterQueue
	}
	if source == cfg.Queue {
		fmt.Fprintf(stderr, "precheckwatch redrive: --from %s is the pending queue itself\n", source)
		return exitUsage
	}
	if *limit < 1 {
		fmt.Fprintf(stderr, "precheckwatch redrive: --max %d: want at least 1\n", *limit)
		return exitUsage
	}
	dlq, err := openQueue(cfg, source)
	if err != nil {
		fmt.Fprintf(stderr, "precheckwatch redrive: %v\n", err)
		return exitConfig
	}
	pending, err := openQueue(cfg, cfg.Queue)
	if err != nil {
		fmt.Fprintf(stderr, "precheckwatch redrive: %v\n", err)
		return exitConfig
	}
	r := redrive{from: dlq, to: pending, dryRun: *dryRun, out: stdout}
	err = r.run(ctx, *limit)
	verb := "moved"
	if *dryRun {
		verb = "would move"
	}
	fmt.Fprintf(stdout, "redrive: %s %d message(s) (%d task(s)) from %s to %s; %d left on %s\n",
		verb, r.moved, r.tasks, source, cfg.Queue, r.left, source)
	if err != nil {
		fmt.Fprintf(stderr, "precheckwatch redrive: %v\n", err)
		return exitFailure
	}
	return exitOK
}

// openQueue opens one queue with the configured endpoint and keys.
func openQueue(cfg config.Config, name string) (*queue.Queue, error) {
	endpoint, err := cfg.MNSEndpointFor(cfg.Region, cfg.AccountID)
	if err != nil {
		return nil, err
	}
	q, err := queue.Open(queue.Config{Endpoint: endpoint, Name: name})
	if err != nil {
		return nil, err
	}
	return q.WithCredentials(cfg.Credentials), nil
}

// redrive is one run of the redrive command.
type redrive struct {
	from, to *queue.Queue
	dryRun   bool
	out      io.Writer

	moved, tasks, left int
}

// run looks at up to limit messages of the dead-letter queue. A message
// whose bodies all read as tasks is sent to the pending queue, then
// deleted; any other stays. Messages looked at but not deleted are made
// visible again at the end, so a dry run leaves the queue as it was.
func (r *redrive) run(ctx context.Context, limit int) error {
	seen := map[string]bool{}
	var kept []string // receipt handles of messages left where they are
	defer func() {
		// A fresh context: an interrupted run still gives its messages back.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		for _, h := range kept {
			_, _ = r.from.ChangeVisibility(ctx, h, time.Second) // else they return after the visibility timeout
		}
	}()
	for len(seen) < limit {
		msgs, err := r.from.Receive(ctx, min(queue.MaxBatch, limit-len(seen)), 0)
		if err != nil {
			return fmt.Errorf("receive from %s: %w", r.from.Name(), err)
		}
		fresh := 0
		for _, m := range msgs {
			if seen[m.ID] {
				kept = append(kept, m.Handle)
				continue
			}
			seen[m.ID] = true
			fresh++
			moved, err := r.one(ctx, m)
			if err != nil {
				kept = append(kept, m.Handle)
				return err
			}
			if !moved {
				kept = append(kept, m.Handle)
			}
		}
		if fresh == 0 {
			return nil // empty, or only messages already looked at
		}
	}
	return nil
}

// one handles one dead letter; moved says whether it left the queue.
func (r *redrive) one(ctx context.Context, m queue.Message) (moved bool, err error) {
	bodies, tasks, problem := redriveBodies([]byte(m.Body))
	if problem != nil {
		r.left++
		fmt.Fprintf(r.out, "left %s: %v\n", m.ID, problem)
		return false, nil
	}
	say := func(verb string) {
		for _, t := range tasks {
			fmt.Fprintf(r.out, "%s %s: task %s in %s\n", verb, m.ID, t.TaskID, t.UniRegionID)
		}
		r.moved, r.tasks = r.moved+1, r.tasks+len(tasks)
	}
	if r.dryRun {
		say("would move")
		return false, nil
	}
	out := make([]queue.Outgoing, len(bodies))
	for i, b := range bodies {
		out[i] = queue.Outgoing{Body: string(b)}
	}
	if err := r.to.Send(ctx, out); err != nil {
		return false, fmt.Errorf("send %s's tasks to %s (it stays on %s): %w", m.ID, r.to.Name(), r.from.Name(), err)
	}
	say("moved")
	if _, err := r.from.Delete(ctx, m.Handle); err != nil {
		// The tasks are on the pending queue; the dead letter comes back
		// and a later redrive sends them again, which the delivery record
		// makes harmless.
		return true, fmt.Errorf("delete %s from %s after sending its tasks: %w", m.ID, r.from.Name(), err)
	}
	return true, nil
}

// redriveBodies are the task bodies a dead letter holds: the
// data.messageBody of each CloudEvent EventBridge dead-lettered, or the
// message itself, which the function dead-lettered verbatim. problem says
// why the message cannot go back yet: a body that still reads as no task
// would only be dead-lettered again.
func redriveBodies(msg []byte) (bodies [][]byte, tasks []precheck.Task, problem error) {
	bodies = [][]byte{msg}
	if ev, err := handler.DecodeEvent(msg); err == nil && ev.Trigger == handler.MNSTrigger {
		bodies = bodies[:0]
		for _, d := range ev.Messages {
			if d.Problem != "" {
				return nil, nil, errors.New(d.Problem)
			}
			bodies = append(bodies, d.Body)
		}
	}
	for _, b := range bodies {
		t, err := precheck.ParseTask(b)
		if err != nil {
			return nil, nil, fmt.Errorf("still not a task: %w", err)
		}
		tasks = append(tasks, t)
	}
	return bodies, tasks, nil
}
