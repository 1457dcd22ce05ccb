// Package precheck is the domain of precheckwatch: the pending task as it
// travels on the queue, the status Security Center reports for it, the
// per-item verdicts, the catalogue of known check items and the decision of
// what happens next. It does no I/O and imports nothing of the project's.
package precheck

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// MaxBodyBytes is the largest task body accepted: MNS's own message limit.
const MaxBodyBytes = 64 * 1024

// Task is one pending precheck task as it travels on the queue: the fields a
// producer writes, and how often the function has checked it. A body carries
// data, never authority: what the function knows of a task (when it first
// saw it, its verdict, the channels that have it) is kept in the delivery
// record, and bookkeeping fields of older versions or forged ones are
// ignored like any unknown field, so they can neither post nor suppress a
// verdict.
type Task struct {
	TaskID       string `json:"taskId"`
	UniRegionID  string `json:"uniRegionId"`
	InstanceUUID string `json:"instanceUuid,omitempty"`
	DatabaseType string `json:"databaseType,omitempty"`
	Label        string `json:"label,omitempty"`
	// Run names the fleet run the task was started in, "" for a task
	// started on its own. It is a claim, not authority: the delivery
	// record's membership of the task decides whether it belongs to the run.
	Run string `json:"run,omitempty"`

	// Attempt counts the checks so far. It only spaces the next check out,
	// so a forged one can cost a task at most BackoffMax of waiting.
	Attempt int `json:"attempt,omitempty"`
}

// ParseTask decodes a task message body: UTF-8 JSON, or base64 of it (some
// producers base64-encode MNS bodies, as the Java SDK does by default).
func ParseTask(body []byte) (Task, error) {
	if len(body) > MaxBodyBytes {
		return Task{}, fmt.Errorf("task body is %d bytes, over the %d-byte limit", len(body), MaxBodyBytes)
	}
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return Task{}, errors.New("task body is empty")
	}
	if trimmed[0] != '{' {
		decoded, err := base64.StdEncoding.DecodeString(string(trimmed))
		if err != nil || !bytes.HasPrefix(bytes.TrimSpace(decoded), []byte("{")) {
			return Task{}, fmt.Errorf("task body is neither a JSON object nor base64 of one (starts %q)", preview(trimmed))
		}
		trimmed = bytes.TrimSpace(decoded)
	}
	if !utf8.Valid(trimmed) {
		return Task{}, errors.New("task body is not valid UTF-8")
	}
	var t Task
	if err := json.Unmarshal(trimmed, &t); err != nil {
		return Task{}, fmt.Errorf("task body is not a valid task: %w", err)
	}
	if err := t.Validate(); err != nil {
		return Task{}, err
	}
	return t, nil
}

// Validate checks the fields a producer must supply.
func (t Task) Validate() error {
	var missing []string
	if strings.TrimSpace(t.TaskID) == "" {
		missing = append(missing, "taskId")
	}
	if strings.TrimSpace(t.UniRegionID) == "" {
		missing = append(missing, "uniRegionId")
	}
	if len(missing) > 0 {
		return fmt.Errorf("task is missing %s", strings.Join(missing, " and "))
	}
	if t.Attempt < 0 {
		return fmt.Errorf("task %s has a negative attempt count %d", t.TaskID, t.Attempt)
	}
	return nil
}

// Encode returns the task as the JSON body put on the queue.
func (t Task) Encode() ([]byte, error) {
	b, err := json.Marshal(t)
	if err != nil {
		return nil, fmt.Errorf("encode task %s: %w", t.TaskID, err)
	}
	return b, nil
}

// Name is how people know the task: its label, or its id.
func (t Task) Name() string {
	if t.Label != "" {
		return t.Label
	}
	return t.TaskID
}

func preview(b []byte) string {
	const n = 16
	if len(b) > n {
		return string(b[:n]) + "…"
	}
	return string(b)
}
