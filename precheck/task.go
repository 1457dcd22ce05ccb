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
	"time"
	"unicode/utf8"
)

// MaxBodyBytes is the largest task body accepted: MNS's own message limit.
const MaxBodyBytes = 64 * 1024

// Task is one pending precheck task: the fields a producer writes, and the
// bookkeeping the function adds each time it puts the task back on the queue.
// Unknown JSON fields are ignored, so producers and older or newer versions
// of the function can add fields without making a message unreadable.
type Task struct {
	TaskID       string `json:"taskId"`
	UniRegionID  string `json:"uniRegionId"`
	InstanceUUID string `json:"instanceUuid,omitempty"`
	DatabaseType string `json:"databaseType,omitempty"`
	Label        string `json:"label,omitempty"`

	// Attempt counts the queries made so far.
	Attempt int `json:"attempt,omitempty"`
	// FirstSeen is when the function first saw the task, in Unix milliseconds;
	// TASK_DEADLINE counts from here.
	FirstSeen int64 `json:"firstSeen,omitempty"`
	// LastProgress is the progress reported by the latest query.
	LastProgress int `json:"lastProgress,omitempty"`
	// Final is the verdict once reached. A task that carries one is not
	// queried again: it is only waiting for undelivered channels.
	Final *Outcome `json:"final,omitempty"`
	// Delivered lists the channels that already carry the final verdict.
	Delivered []string `json:"delivered,omitempty"`
	// Started lists the channels that carry the "precheck running" notice,
	// as channel=reference pairs (the Slack ts a verdict threads under).
	Started map[string]string `json:"started,omitempty"`
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
	if t.Attempt < 0 || t.LastProgress < 0 || t.LastProgress > 100 {
		return fmt.Errorf("task %s has out-of-range bookkeeping (attempt %d, progress %d)", t.TaskID, t.Attempt, t.LastProgress)
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

// FirstSeenTime is FirstSeen as a time, zero when unset.
func (t Task) FirstSeenTime() time.Time {
	if t.FirstSeen == 0 {
		return time.Time{}
	}
	return time.UnixMilli(t.FirstSeen).UTC()
}

// IsDelivered reports whether channel already carries the final verdict.
func (t Task) IsDelivered(channel string) bool {
	for _, c := range t.Delivered {
		if c == channel {
			return true
		}
	}
	return false
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
