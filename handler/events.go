package handler

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"precheckwatch/fleet"
)

// Trigger names what invoked the function.
type Trigger string

// Triggers, told apart by the event's shape.
const (
	TimerTrigger Trigger = "timer" // sweep the pending queue
	MNSTrigger   Trigger = "mns"   // CloudEvents from an EventBridge MNS stream
	TaskTrigger  Trigger = "task"  // one bare task message (manual invoke)
	FleetTrigger Trigger = "fleet" // a timer whose payload names a fleet: start a fleet run
)

// MNSEventType is the CloudEvent type of an MNS queue message.
const MNSEventType = "mns:Queue:SendMessage"

// MaxTasksPerSweep bounds a timer sweep when its payload sets no cap.
const MaxTasksPerSweep = 1000

// Event is a decoded invocation event.
type Event struct {
	Trigger Trigger
	// Sweep holds the timer payload's options (TimerTrigger).
	Sweep SweepOptions
	// Messages are the queue messages carried by the event (MNSTrigger),
	// each still undecoded: an unreadable one is dead-lettered on its own.
	Messages []EventMessage
	// Task is the bare task body (TaskTrigger).
	Task []byte
	// Fleet is the fleet run to start (FleetTrigger), its fleet
	// normalized.
	Fleet fleet.Request
}

// SweepOptions are the JSON options a timer trigger's payload may carry.
type SweepOptions struct {
	// MaxTasks caps the messages one sweep takes from the queue.
	MaxTasks int `json:"maxTasks"`
}

// EventMessage is one queue message delivered inside an event.
type EventMessage struct {
	// ID is the MNS message id (the CloudEvent id when data has none).
	ID string
	// Body is the message body; Raw is the whole CloudEvent, kept verbatim
	// for the dead-letter queue when the body cannot be read.
	Body []byte
	Raw  json.RawMessage
	// Problem says why the CloudEvent itself is unreadable, "" when fine.
	Problem string
}

// timerPayload is what a timer trigger's payload may hold: sweep options,
// or a fleet to start a run of.
type timerPayload struct {
	SweepOptions
	// Fleet names the fleet, e.g. {"regions":["cn-hangzhou"],"types":["MYSQL"]}.
	Fleet *fleet.Spec `json:"fleet"`
	// Run names the fleet run; by default it is derived from the fleet and
	// the event's triggerTime, so a retried invocation resumes its run.
	Run string `json:"run"`
}

type timerEvent struct {
	TriggerTime *string `json:"triggerTime"`
	TriggerName *string `json:"triggerName"`
	Payload     *string `json:"payload"`
}

type cloudEvent struct {
	ID          string `json:"id"`
	Type        string `json:"type"`
	Specversion string `json:"specversion"`
	Data        *struct {
		MessageID string `json:"messageId"`
		// MessageBody is documented as a string, but EventBridge's MNS
		// source may parse a JSON body and hand it over as an object or
		// array: see messageBody.
		MessageBody json.RawMessage `json:"messageBody"`
	} `json:"data"`
}

// errUnknownEvent is wrapped by every error about an event's shape.
var errUnknownEvent = errors.New("unrecognised event")

// DecodeEvent tells the invocation's event apart by shape: a JSON array of
// MNS CloudEvents (FC 3.0 EventBridge), a single CloudEvent (FC 2.0), a
// timer event, or a bare task message. Anything else is an error that says
// what was expected.
func DecodeEvent(raw []byte) (Event, error) {
	trimmed := bytes.TrimSpace(raw)
	if len(trimmed) == 0 {
		return Event{}, fmt.Errorf("%w: the event is empty; expected a timer event, an array of MNS CloudEvents, a CloudEvent or a task message", errUnknownEvent)
	}
	switch trimmed[0] {
	case '[':
		return decodeCloudEvents(trimmed)
	case '{':
	default:
		return Event{}, fmt.Errorf("%w: the event is not a JSON object or array (starts %q)", errUnknownEvent, head(trimmed))
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(trimmed, &fields); err != nil {
		return Event{}, fmt.Errorf("%w: the event is not valid JSON: %v", errUnknownEvent, err)
	}
	switch {
	case has(fields, "triggerTime") || has(fields, "triggerName"):
		return decodeTimer(trimmed)
	case has(fields, "specversion") || has(fields, "data") && has(fields, "type"):
		d := decodeCloudEvent(trimmed)
		if d.Problem != "" {
			return Event{}, fmt.Errorf("%w: %s", errUnknownEvent, d.Problem)
		}
		return Event{Trigger: MNSTrigger, Messages: []EventMessage{d}}, nil
	case has(fields, "taskId") || has(fields, "uniRegionId"):
		return Event{Trigger: TaskTrigger, Task: trimmed}, nil
	}
	return Event{}, fmt.Errorf("%w: an object with fields %s; expected a timer event (triggerTime), a CloudEvent (specversion, data) or a task message (taskId)", errUnknownEvent, fieldNames(fields))
}

func decodeTimer(raw []byte) (Event, error) {
	var te timerEvent
	if err := json.Unmarshal(raw, &te); err != nil {
		return Event{}, fmt.Errorf("%w: timer event: %v", errUnknownEvent, err)
	}
	p := timerPayload{SweepOptions: SweepOptions{MaxTasks: MaxTasksPerSweep}}
	if te.Payload != nil && strings.TrimSpace(*te.Payload) != "" {
		dec := json.NewDecoder(strings.NewReader(*te.Payload))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&p); err != nil {
			return Event{}, fmt.Errorf(`timer payload must be empty, JSON options like {"maxTasks":500}, or a fleet like {"fleet":{"regions":["cn-hangzhou"],"types":["MYSQL"]}}: %v`, err)
		}
		if dec.More() {
			return Event{}, errors.New("timer payload holds more than one JSON value")
		}
		if p.Fleet != nil {
			return decodeFleet(te, p)
		}
		if p.Run != "" {
			return Event{}, errors.New(`timer payload names a run but no fleet; add "fleet":{"regions":[...]}`)
		}
		if p.MaxTasks <= 0 {
			return Event{}, fmt.Errorf("timer payload maxTasks must be positive, got %d", p.MaxTasks)
		}
	}
	return Event{Trigger: TimerTrigger, Sweep: p.SweepOptions}, nil
}

// decodeFleet reads a fleet timer's payload: the fleet, and the run's
// identity, from the payload's run or else the scheduled triggerTime.
func decodeFleet(te timerEvent, p timerPayload) (Event, error) {
	if p.MaxTasks != MaxTasksPerSweep {
		return Event{}, errors.New("timer payload names a fleet and maxTasks; a fleet run takes no maxTasks")
	}
	spec, err := p.Fleet.Normalize()
	if err != nil {
		return Event{}, fmt.Errorf("timer payload: %w", err)
	}
	req := fleet.Request{Spec: spec, RunID: p.Run}
	if p.Run != "" {
		if err := fleet.CheckRunID(p.Run); err != nil {
			return Event{}, fmt.Errorf("timer payload: %w", err)
		}
		return Event{Trigger: FleetTrigger, Fleet: req}, nil
	}
	if te.TriggerTime == nil {
		return Event{}, errors.New(`timer event names a fleet but has no triggerTime to name its run by; add "run":"ID" to the payload`)
	}
	if req.Scheduled, err = time.Parse(time.RFC3339, *te.TriggerTime); err != nil {
		return Event{}, fmt.Errorf("timer event triggerTime %q is not an RFC 3339 time like 2026-12-07T03:00:00Z", *te.TriggerTime)
	}
	return Event{Trigger: FleetTrigger, Fleet: req}, nil
}

func decodeCloudEvents(raw []byte) (Event, error) {
	var elems []json.RawMessage
	if err := json.Unmarshal(raw, &elems); err != nil {
		return Event{}, fmt.Errorf("%w: the event is an array but not valid JSON: %v", errUnknownEvent, err)
	}
	if len(elems) == 0 {
		return Event{}, fmt.Errorf("%w: the event is an empty array; expected MNS CloudEvents", errUnknownEvent)
	}
	ev := Event{Trigger: MNSTrigger, Messages: make([]EventMessage, 0, len(elems))}
	seen := map[string]bool{}
	for _, e := range elems {
		d := decodeCloudEvent(e)
		// EventBridge delivers at least once, so one batch may hold the same
		// message twice; it is one message, handled once.
		if d.ID != "" && seen[d.ID] {
			continue
		}
		seen[d.ID] = true
		ev.Messages = append(ev.Messages, d)
	}
	return ev, nil
}

// decodeCloudEvent reads one CloudEvent; a malformed one becomes a
// EventMessage with a Problem, so the rest of its batch goes on.
func decodeCloudEvent(raw json.RawMessage) EventMessage {
	d := EventMessage{Raw: raw}
	var ce cloudEvent
	if err := json.Unmarshal(raw, &ce); err != nil {
		d.Problem = fmt.Sprintf("not a CloudEvent object: %v", err)
		return d
	}
	d.ID = ce.ID
	if ce.Type != MNSEventType {
		d.Problem = fmt.Sprintf("CloudEvent type %q is not %s", ce.Type, MNSEventType)
		return d
	}
	if ce.Data == nil || len(ce.Data.MessageBody) == 0 || string(ce.Data.MessageBody) == "null" {
		d.Problem = "CloudEvent has no data.messageBody"
		return d
	}
	if ce.Data.MessageID != "" {
		d.ID = ce.Data.MessageID
	}
	d.Body = messageBody(ce.Data.MessageBody)
	return d
}

// messageBody is the queue message's body from data.messageBody: a JSON
// string's text (which may be base64, left to the task parser), or the JSON
// text of an object, array or other value that EventBridge parsed out of a
// JSON body, which is what the body held.
func messageBody(raw json.RawMessage) []byte {
	var text string
	if raw[0] == '"' && json.Unmarshal(raw, &text) == nil {
		return []byte(text)
	}
	return bytes.TrimSpace(raw)
}

func has(fields map[string]json.RawMessage, name string) bool {
	_, ok := fields[name]
	return ok
}

func fieldNames(fields map[string]json.RawMessage) string {
	if len(fields) == 0 {
		return "{}"
	}
	names := make([]string, 0, len(fields))
	for k := range fields {
		names = append(names, k)
	}
	sort.Strings(names)
	if len(names) > 8 {
		names = append(names[:8], "…")
	}
	return "{" + strings.Join(names, ", ") + "}"
}

func head(b []byte) string {
	if len(b) > 16 {
		return string(b[:16]) + "…"
	}
	return string(b)
}
