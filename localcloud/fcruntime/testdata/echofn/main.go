// Command echofn is the function the fcruntime and eventbridge tests run
// under the emulated FC runtime. It answers with the event and everything
// the SDK put in its context, and the event (or, for MNS batches, each
// message body, and for timers the payload) can tell it to sleep, fail,
// panic or exit.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/aliyun/fc-runtime-go-sdk/events"
	"github.com/aliyun/fc-runtime-go-sdk/fc"
	"github.com/aliyun/fc-runtime-go-sdk/fccontext"
)

// command is what an event (or a message body) may ask of the function.
type command struct {
	Sleep         string `json:"sleep"`         // Go duration
	IgnoreContext bool   `json:"ignoreContext"` // sleep past the deadline
	Error         string `json:"error"`         // return errors.New(Error)
	Panic         string `json:"panic"`         // panic(Panic)
	Exit          int    `json:"exit"`          // os.Exit(Exit) when non-zero
	Log           string `json:"log"`           // one line to stdout and stderr
	// Barrier makes the invocation wait until Parties invocations have
	// entered the directory Barrier: proof that they run at once.
	Barrier string `json:"barrier"`
	Parties int    `json:"parties"`
	// FailTimes makes the first FailTimes invocations that carry it fail,
	// counted in the file CounterFile.
	FailTimes   int    `json:"failTimes"`
	CounterFile string `json:"counterFile"`
}

// reply is the function's answer.
type reply struct {
	Event       json.RawMessage        `json:"event"`
	RequestID   string                 `json:"requestId"`
	DeadlineMs  int64                  `json:"deadlineMs"`
	Credentials fccontext.Credentials  `json:"credentials"`
	Function    fccontext.Function     `json:"function"`
	Service     fccontext.Service      `json:"service"`
	Region      string                 `json:"region"`
	AccountID   string                 `json:"accountId"`
	RetryCount  int                    `json:"retryCount"`
	Env         map[string]string      `json:"env"`
	PID         int                    `json:"pid"`
	StartedNs   int64                  `json:"startedNs"`
	EndedNs     int64                  `json:"endedNs"`
	MNS         []events.MnsQueueEvent `json:"mns,omitempty"`
	Timer       *events.TimerEvent     `json:"timer,omitempty"`
	Bodies      []string               `json:"bodies,omitempty"`
}

func handle(ctx context.Context, event json.RawMessage) (any, error) {
	started := time.Now()
	fctx, ok := fccontext.FromContext(ctx)
	if !ok {
		return nil, errors.New("no FC context")
	}
	out := reply{
		Event:       event,
		RequestID:   fctx.RequestID,
		Credentials: fctx.Credentials,
		Function:    fctx.Function,
		Service:     fctx.Service,
		Region:      fctx.Region,
		AccountID:   fctx.AccountId,
		RetryCount:  fctx.RetryCount,
		Env:         map[string]string{},
		PID:         os.Getpid(),
		StartedNs:   started.UnixNano(),
	}
	if deadline, ok := ctx.Deadline(); ok {
		out.DeadlineMs = deadline.UnixMilli()
	}
	for _, kv := range os.Environ() {
		k, v, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "FC_") || strings.HasPrefix(k, "ALIBABA_CLOUD_") || strings.HasPrefix(k, "ECHO_") {
			out.Env[k] = v
		}
	}

	var commands []command
	trimmed := bytes.TrimSpace(event)
	switch {
	case len(trimmed) > 0 && trimmed[0] == '[':
		if err := json.Unmarshal(trimmed, &out.MNS); err != nil {
			return nil, fmt.Errorf("decode MNS batch: %w", err)
		}
		for _, e := range out.MNS {
			if e.Data == nil || e.Data.MessageBody == nil {
				return nil, errors.New("MNS event without data.messageBody")
			}
			out.Bodies = append(out.Bodies, *e.Data.MessageBody)
			var c command
			if json.Unmarshal([]byte(*e.Data.MessageBody), &c) == nil {
				commands = append(commands, c)
			}
		}
	case bytes.Contains(trimmed, []byte(`"triggerTime"`)):
		out.Timer = new(events.TimerEvent)
		if err := json.Unmarshal(trimmed, out.Timer); err != nil {
			return nil, fmt.Errorf("decode timer event: %w", err)
		}
		if out.Timer.Payload != nil {
			var c command
			if json.Unmarshal([]byte(*out.Timer.Payload), &c) == nil {
				commands = append(commands, c)
			}
		}
	case bytes.Contains(trimmed, []byte(`"mns:Queue:SendMessage"`)):
		var e events.MnsQueueEvent
		if err := json.Unmarshal(trimmed, &e); err != nil {
			return nil, fmt.Errorf("decode MNS event: %w", err)
		}
		out.MNS = []events.MnsQueueEvent{e}
		if e.Data != nil && e.Data.MessageBody != nil {
			out.Bodies = append(out.Bodies, *e.Data.MessageBody)
			var c command
			if json.Unmarshal([]byte(*e.Data.MessageBody), &c) == nil {
				commands = append(commands, c)
			}
		}
	default:
		var c command
		if json.Unmarshal(trimmed, &c) == nil {
			commands = append(commands, c)
		}
	}
	for _, c := range commands {
		if err := run(ctx, c); err != nil {
			return nil, err
		}
	}
	out.EndedNs = time.Now().UnixNano()
	return out, nil
}

func run(ctx context.Context, c command) error {
	if c.Log != "" {
		fmt.Fprintln(os.Stdout, c.Log)
		fmt.Fprintln(os.Stderr, c.Log)
	}
	if c.Barrier != "" {
		if err := meet(ctx, c.Barrier, c.Parties); err != nil {
			return err
		}
	}
	if c.Sleep != "" {
		d, err := time.ParseDuration(c.Sleep)
		if err != nil {
			return err
		}
		if c.IgnoreContext {
			time.Sleep(d)
		} else {
			select {
			case <-time.After(d):
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	if c.FailTimes > 0 {
		n := 0
		if b, err := os.ReadFile(c.CounterFile); err == nil {
			n, _ = strconv.Atoi(string(b))
		}
		n++
		if err := os.WriteFile(c.CounterFile, []byte(strconv.Itoa(n)), 0o600); err != nil {
			return err
		}
		if n <= c.FailTimes {
			return fmt.Errorf("planned failure %d of %d", n, c.FailTimes)
		}
	}
	if c.Exit != 0 {
		os.Exit(c.Exit)
	}
	if c.Panic != "" {
		panic(c.Panic)
	}
	if c.Error != "" {
		return errors.New(c.Error)
	}
	return nil
}

// meet enters the barrier directory and waits until parties have entered.
func meet(ctx context.Context, dir string, parties int) error {
	f, err := os.CreateTemp(dir, "party-")
	if err != nil {
		return err
	}
	f.Close()
	for {
		entries, err := os.ReadDir(dir)
		if err != nil {
			return err
		}
		if len(entries) >= parties {
			return nil
		}
		select {
		case <-time.After(5 * time.Millisecond):
		case <-ctx.Done():
			return fmt.Errorf("barrier %s: %d of %d parties: %w", filepath.Base(dir), len(entries), parties, ctx.Err())
		}
	}
}

func main() {
	fc.Start(handle)
}
