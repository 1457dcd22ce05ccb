package notify

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"precheckwatch/precheck"
)

// DefaultConsoleURL opens Security Center's console, where database backup
// and its prechecks live. The console's in-page routes are not documented
// and change between releases, so messages link the console itself.
const DefaultConsoleURL = "https://yundun.console.aliyun.com/?p=sas"

// Verdict is what every channel shows of one finished task.
type Verdict struct {
	task      precheck.Task
	out       precheck.Outcome
	instances []precheck.Instance // worst first, items worst first
	subject   string              // raw, unescaped
}

// NewVerdict orders a finished task's instances and items worst first.
func NewVerdict(t precheck.Task, o precheck.Outcome) Verdict {
	instances := worstFirst(o.Instances)
	return Verdict{task: t, out: o, instances: instances, subject: subjectOf(t, instances)}
}

// Verdict is the task's overall verdict.
func (v Verdict) Verdict() precheck.Verdict { return v.out.Verdict }

// Badge is the verdict as emoji and word.
func (v Verdict) Badge() string { return Badge(v.out.Verdict) }

// Subject names the task for people, unescaped: its label and database,
// or, without a label, its database and id.
func (v Verdict) Subject() string { return v.subject }

// Alerting reports whether the verdict calls for the on-call team.
func (v Verdict) Alerting() bool { return Alerting(v.out.Verdict) }

// Alerting reports whether a verdict calls for the on-call team.
func Alerting(v precheck.Verdict) bool { return v != precheck.Passed }

// Instances lays the task's instances out within b, each in full when all
// fit, else in compact form: the sections, and the line that counts the
// instances left out ("" when none is).
func (v Verdict) Instances(m Markup, b Budget) (sections []string, more string) {
	sections, shown := fit(m, len(v.instances), func(i int, compact bool, hints map[string]bool) chunk {
		if compact {
			return instanceChunk(m, v.instances[i], passedAsCodes, hints, b.SectionMax)
		}
		return instanceChunk(m, v.instances[i], allItems, hints, 0)
	}, b)
	if shown < len(v.instances) {
		more = moreInstances(m, v.instances[shown:])
	}
	return sections, more
}

// worstFirst copies instances, ordering them and their items worst first,
// keeping the reported order among equals.
func worstFirst(in []precheck.Instance) []precheck.Instance {
	out := make([]precheck.Instance, len(in))
	for i, inst := range in {
		inst.Items = slices.Clone(inst.Items)
		slices.SortStableFunc(inst.Items, func(a, b precheck.Item) int { return int(b.Level) - int(a.Level) })
		out[i] = inst
	}
	slices.SortStableFunc(out, func(a, b precheck.Instance) int { return int(b.Worst()) - int(a.Worst()) })
	return out
}

// subjectOf names the task for people: its label and database, or,
// without a label, its database and id.
func subjectOf(t precheck.Task, instances []precheck.Instance) string {
	if OneLine(t.Label) != "" {
		return nameOf(t, instances)
	}
	return joinNonEmpty(databaseOf(t, instances), t.TaskID)
}

// nameOf is the task's label and database kind; "" when it has neither.
func nameOf(t precheck.Task, instances []precheck.Instance) string {
	return joinNonEmpty(OneLine(t.Label), databaseOf(t, instances))
}

func joinNonEmpty(parts ...string) string {
	var out []string
	for _, p := range parts {
		if p != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, " · ")
}

// databaseOf names the database kind: the task's, else its instances'.
func databaseOf(t precheck.Task, instances []precheck.Instance) string {
	if t.DatabaseType != "" {
		return friendlySource(t.DatabaseType)
	}
	var kinds []string
	for _, in := range instances {
		if k := friendlySource(in.SourceType); k != "" && !slices.Contains(kinds, k) {
			kinds = append(kinds, k)
		}
	}
	return strings.Join(kinds, ", ")
}

// sourceNames are the database kinds Security Center backs up, by the
// sourceType / databaseType value it uses for them.
var sourceNames = map[string]string{
	"MYSQL":  "MySQL",
	"MSSQL":  "SQL Server",
	"ORACLE": "Oracle",
}

func friendlySource(raw string) string {
	if name, ok := sourceNames[strings.ToUpper(strings.TrimSpace(raw))]; ok {
		return name
	}
	return OneLine(raw)
}

// Badge is a verdict as emoji and word.
func Badge(v precheck.Verdict) string {
	switch v {
	case precheck.Passed:
		return "✅ PASSED"
	case precheck.Warning:
		return "⚠️ WARNING"
	case precheck.Failed:
		return "❌ FAILED"
	case precheck.Error:
		return "🛑 ERROR"
	case precheck.TimedOut:
		return "⏱️ TIMED_OUT"
	case "":
		return "❓ UNKNOWN"
	default:
		return "❓ " + ClipRunes(OneLine(string(v)), 40)
	}
}

// Severity orders verdicts, worst highest, as digests list them: failures
// before prechecks that could not run, before warnings, before passes.
func Severity(v precheck.Verdict) int {
	switch v {
	case precheck.Passed:
		return 0
	case precheck.Warning:
		return 1
	case precheck.TimedOut:
		return 2
	case precheck.Error:
		return 3
	default:
		return 4
	}
}

// levelEmoji marks one item's level.
func levelEmoji(l precheck.Level) string {
	switch l {
	case precheck.Pass:
		return "✅"
	case precheck.Warn:
		return "⚠️"
	default:
		return "❌"
	}
}

// Summary is one or two sentences under the headline.
func (v Verdict) Summary(m Markup) string {
	pass, warn, fail := v.out.Counts()
	on := " on " + plural(len(v.instances), "instance", "instances") + "."
	var s string
	switch v.out.Verdict {
	case precheck.Error:
		s = fmt.Sprintf("The precheck itself failed, at %d%% progress.", v.out.Progress)
	case precheck.TimedOut:
		s = fmt.Sprintf("No verdict before the deadline; the last progress seen was %d%%.", v.out.Progress)
	case precheck.Passed:
		s = "All " + plural(pass, "check", "checks") + " passed" + on
	default:
		var parts []string
		if fail > 0 {
			parts = append(parts, m.Bold(fmt.Sprintf("%d failed", fail)))
		}
		if warn > 0 {
			parts = append(parts, m.Bold(plural(warn, "warning", "warnings")))
		}
		parts = append(parts, fmt.Sprintf("%d passed", pass))
		s = strings.Join(parts, ", ") + on
	}
	if reason := m.TextUpTo(v.out.Reason, maxReasonRunes); reason != "" {
		s += m.Br() + m.Bold("Reason:") + " " + reason
	}
	return s
}

// Facts is the line of identifiers and timings at the bottom.
func (v Verdict) Facts(m Markup) string {
	t, o := v.task, v.out
	parts := []string{"task " + m.Code(t.TaskID)}
	if t.UniRegionID != "" {
		parts = append(parts, "region "+m.Code(t.UniRegionID))
	}
	if t.InstanceUUID != "" {
		parts = append(parts, "agent "+m.Code(t.InstanceUUID))
	}
	attempts := o.Attempts
	if attempts == 0 {
		attempts = t.Attempt
	}
	if attempts > 0 {
		parts = append(parts, plural(attempts, "query", "queries"))
	}
	if first := o.FirstSeen; first > 0 && o.DecidedAt >= first {
		waited := time.Duration(o.DecidedAt-first) * time.Millisecond
		parts = append(parts, waited.Round(time.Second).String()+" from first seen to verdict")
	}
	if o.DecidedAt > 0 {
		parts = append(parts, "decided "+utc(time.UnixMilli(o.DecidedAt)))
	}
	return strings.Join(parts, " · ")
}

// Fallback is the one-line notification text, unescaped.
func (v Verdict) Fallback() string {
	return v.Badge() + " precheck: " + v.subject + " (task " + v.task.TaskID + ")"
}

// maxReasonRunes bounds the ERROR / TIMED_OUT reason shown.
const maxReasonRunes = 1000

func utc(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") }

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}
