package precheck

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"
)

// Level is how bad one item's result is.
type Level int

// Levels, best first: a task's overall level is its worst item's.
const (
	Pass Level = iota // PASSED
	Warn              // WARNING
	Fail              // anything else, including values never seen before
)

// LevelOf maps a raw item result to its level: PASSED passes, WARNING warns,
// everything else, known or not, fails.
func LevelOf(raw string) Level {
	switch strings.ToUpper(strings.TrimSpace(raw)) {
	case "PASSED":
		return Pass
	case "WARNING":
		return Warn
	default:
		return Fail
	}
}

// String names the level as the verdict word for it.
func (l Level) String() string {
	switch l {
	case Pass:
		return "PASSED"
	case Warn:
		return "WARNING"
	default:
		return "FAILED"
	}
}

// Verdict is a task's overall verdict.
type Verdict string

// Every verdict a task can end with.
const (
	Passed   Verdict = "PASSED"    // every item passed
	Warning  Verdict = "WARNING"   // the worst item is a warning
	Failed   Verdict = "FAILED"    // some item did not pass
	Error    Verdict = "ERROR"     // the precheck itself failed (Description=error, or an unreadable Result)
	TimedOut Verdict = "TIMED_OUT" // no verdict before TASK_DEADLINE
)

// Severity orders verdicts for grouping and mentions: 0 is all clear.
func (v Verdict) Severity() int {
	switch v {
	case Passed:
		return 0
	case Warning:
		return 1
	default:
		return 2
	}
}

// Worse reports whether v is more severe than prev, in Severity's order.
func (v Verdict) Worse(prev Verdict) bool { return v.Severity() > prev.Severity() }

// Item is one check's result on one database instance.
type Item struct {
	Code  string `json:"code"`
	Name  string `json:"name"`
	Raw   string `json:"raw"`
	Level Level  `json:"level"`
	Hint  string `json:"hint,omitempty"`
	// Databases are the databases the item flags, when the Result names
	// them.
	Databases []string `json:"databases,omitempty"`
}

// Instance is one database host's results.
type Instance struct {
	InstanceID string    `json:"instanceId"`
	SourceType string    `json:"sourceType"`
	CheckTime  time.Time `json:"checkTime,omitzero"`
	Items      []Item    `json:"items"`
}

// Worst is the instance's worst item level (Pass when it has no items).
func (in Instance) Worst() Level {
	worst := Pass
	for _, it := range in.Items {
		worst = max(worst, it.Level)
	}
	return worst
}

// Cause is why a precheck came to no verdict of its own; messages word
// it in their reader's language.
type Cause string

// Causes, as the delivery record keeps them.
const (
	// CauseFailed: Security Center reports the precheck failed
	// (Description=error).
	CauseFailed Cause = "failed"
	// CauseUnreadable: the precheck completed but its Result cannot be
	// read; Detail says why.
	CauseUnreadable Cause = "unreadable_result"
	// CauseNoInstances: the precheck completed without reporting any
	// instance.
	CauseNoInstances Cause = "no_instances"
	// CauseUnknownTask: Security Center still knew no such task when the
	// grace for a new task ended.
	CauseUnknownTask Cause = "unknown_task"
	// CauseRefused: Security Center refused the query; Detail is its error.
	CauseRefused Cause = "refused"
	// CauseStillRunning: the deadline passed while Security Center still
	// reported the precheck running.
	CauseStillRunning Cause = "still_running"
	// CauseUnanswered: the deadline passed while Security Center did not
	// answer; Detail is its error.
	CauseUnanswered Cause = "unanswered"
)

// Outcome is a task's final verdict and what it rests on. It is sealed in
// the delivery record once decided, never carried on the queue, so it is
// plain data.
type Outcome struct {
	Verdict   Verdict    `json:"verdict"`
	Instances []Instance `json:"instances,omitempty"`
	// Progress is the last progress seen, for ERROR and TIMED_OUT.
	Progress int `json:"progress"`
	// Cause says why a task ended in ERROR or TIMED_OUT, or that a
	// finished precheck reported no instance.
	Cause Cause `json:"cause,omitempty"`
	// Detail is the cause's own data, shown verbatim: why the Result is
	// unreadable, or Security Center's error.
	Detail string `json:"detail,omitempty"`
	// Deadline is the wait a TIMED_OUT verdict ran out of.
	Deadline time.Duration `json:"deadline,omitempty"`
	// FirstSeen and DecidedAt bound the wait, in Unix milliseconds.
	FirstSeen int64 `json:"firstSeen,omitempty"`
	DecidedAt int64 `json:"decidedAt"`
	// Attempts is how many queries it took.
	Attempts int `json:"attempts"`
	// Previous is, for a fleet task's verdict posted because it changed
	// (NOTIFY_MODE=changes), its database's verdict before the run; ""
	// otherwise. The on-call team is then mentioned only when the verdict
	// is Worse than it. The run's tally gives it again, so it is not kept.
	Previous Verdict `json:"-"`
}

// Counts returns how many items are at each level.
func (o Outcome) Counts() (pass, warn, fail int) {
	for _, in := range o.Instances {
		for _, it := range in.Items {
			switch it.Level {
			case Pass:
				pass++
			case Warn:
				warn++
			default:
				fail++
			}
		}
	}
	return pass, warn, fail
}

// verdictOf folds instances into the overall verdict: the worst item.
// A completed precheck with no item at all proves nothing, so it fails.
func verdictOf(instances []Instance) Verdict {
	worst, any := Pass, false
	for _, in := range instances {
		for _, it := range in.Items {
			any = true
			worst = max(worst, it.Level)
		}
	}
	switch {
	case !any:
		return Failed
	case worst == Pass:
		return Passed
	case worst == Warn:
		return Warning
	default:
		return Failed
	}
}

// wireInstance is one element of the Result JSON string.
type wireInstance struct {
	InstanceID string      `json:"instanceId"`
	CheckTime  json.Number `json:"checkTime"`
	SourceType string      `json:"sourceType"`
	Results    []wireItem  `json:"results"`
}

type wireItem struct {
	Item   string
	Result string
	// Databases are the names of the databases the item flags. Security
	// Center documents only item and result; any other field whose name
	// says it holds databases ("databases", "dbNames", "dbList", …) and
	// whose value is a name or a list of names counts, so that a Result
	// that names them has them shown.
	Databases []string
}

// UnmarshalJSON reads item and result, matched without regard to case as
// encoding/json does, and the names of any databases the item flags.
func (w *wireItem) UnmarshalJSON(b []byte) error {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(b, &fields); err != nil {
		return err
	}
	for key, raw := range fields {
		var err error
		switch k := strings.ToLower(key); {
		case k == "item":
			err = json.Unmarshal(raw, &w.Item)
		case k == "result":
			err = json.Unmarshal(raw, &w.Result)
		case strings.Contains(k, "database") || strings.HasPrefix(k, "db"):
			w.Databases = append(w.Databases, namesOf(raw)...)
		}
		if err != nil {
			return fmt.Errorf("item field %q: %w", key, err)
		}
	}
	slices.Sort(w.Databases)
	w.Databases = slices.Compact(w.Databases)
	return nil
}

// namesOf reads a name or a list of names; anything else names nothing.
func namesOf(raw json.RawMessage) []string {
	var one string
	if json.Unmarshal(raw, &one) == nil {
		raw = json.RawMessage(`[` + string(raw) + `]`)
	}
	var list []string
	if json.Unmarshal(raw, &list) != nil {
		return nil
	}
	var out []string
	for _, s := range list {
		for _, name := range strings.Split(s, ",") {
			if name = strings.TrimSpace(name); name != "" {
				out = append(out, name)
			}
		}
	}
	return out
}

// ParseResult turns QueryPreCheckDatabase's Result, a JSON string holding an
// array of instances, into instances with per-item levels, names and hints.
// "", "[]" and "null" mean no results yet. Items are ordered worst first,
// then as reported.
func ParseResult(result string) ([]Instance, error) {
	s := strings.TrimSpace(result)
	if s == "" || s == "null" {
		return nil, nil
	}
	var wire []wireInstance
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	if err := dec.Decode(&wire); err != nil {
		return nil, fmt.Errorf("the precheck Result is not a JSON array of instances: %w (starts %q)", err, preview([]byte(s)))
	}
	if dec.More() {
		return nil, fmt.Errorf("the precheck Result has trailing data after the array (starts %q)", preview([]byte(s)))
	}
	out := make([]Instance, 0, len(wire))
	for _, w := range wire {
		in := Instance{
			InstanceID: w.InstanceID,
			SourceType: w.SourceType,
			CheckTime:  epochTime(w.CheckTime),
			Items:      make([]Item, 0, len(w.Results)),
		}
		for _, r := range w.Results {
			it := NewItem(r.Item, r.Result)
			it.Databases = r.Databases
			in.Items = append(in.Items, it)
		}
		sort.SliceStable(in.Items, func(i, j int) bool { return in.Items[i].Level > in.Items[j].Level })
		out = append(out, in)
	}
	return out, nil
}

// NewItem builds an item from its code and raw result, with the catalogue's
// name and, when it did not pass, the catalogue's fix hint.
func NewItem(code, raw string) Item {
	it := Item{Code: code, Raw: raw, Level: LevelOf(raw)}
	entry, known := Catalogue[code]
	if known {
		it.Name = entry.Name
	} else {
		it.Name = code
	}
	if it.Level != Pass {
		if known {
			it.Hint = entry.Hint
		} else {
			it.Hint = unknownItemHint
		}
	}
	return it
}

// epochTime reads a check time given in epoch seconds, or milliseconds when
// the value is too large to be seconds. Anything unreadable is zero.
func epochTime(n json.Number) time.Time {
	if n == "" {
		return time.Time{}
	}
	v, err := n.Int64()
	if err != nil {
		f, ferr := n.Float64()
		if ferr != nil {
			return time.Time{}
		}
		v = int64(f)
	}
	if v <= 0 {
		return time.Time{}
	}
	if v > 1e12 {
		return time.UnixMilli(v).UTC()
	}
	return time.Unix(v, 0).UTC()
}
