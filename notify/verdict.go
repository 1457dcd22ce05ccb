package notify

import (
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
	w         *phrases
	task      precheck.Task
	out       precheck.Outcome
	instances []precheck.Instance // worst first, items worst first
	subject   string              // raw, unescaped
}

// NewVerdict orders a finished task's instances and items worst first,
// to be told in lang.
func NewVerdict(t precheck.Task, o precheck.Outcome, lang Lang) Verdict {
	instances := worstFirst(o.Instances)
	return Verdict{w: lang.words(), task: t, out: o, instances: instances, subject: subjectOf(t, instances)}
}

// Verdict is the task's overall verdict.
func (v Verdict) Verdict() precheck.Verdict { return v.out.Verdict }

// Badge is the verdict as emoji and word.
func (v Verdict) Badge() string { return v.w.badge(v.out.Verdict) }

// Title is the verdict as a notification names it, unescaped: badge,
// "precheck" and subject, so that a robot's keyword finds it.
func (v Verdict) Title() string { return v.Badge() + v.w.verdictTitleWord + OneLine(v.subject) }

// Subject names the task for people, unescaped: its label and database,
// or, without a label, its database and id.
func (v Verdict) Subject() string { return v.subject }

// Alerting reports whether the verdict calls for the on-call team.
func (v Verdict) Alerting() bool { return alerting(v.out) }

// alerting reports whether an outcome calls for the on-call team: one
// that is not PASSED, and of a change (o.Previous set) only one for the
// worse.
func alerting(o precheck.Outcome) bool {
	if o.Previous != "" {
		return o.Verdict.Worse(o.Previous)
	}
	return o.Verdict != precheck.Passed
}

// Instances lays the task's instances out within b, each in full when all
// fit, else in compact form: the sections, and the line that counts the
// instances left out ("" when none is).
func (v Verdict) Instances(m Markup, b Budget) (sections []string, more string) {
	sections, shown := fit(m, len(v.instances), func(i int, compact bool, hints map[string]bool) chunk {
		if compact {
			return instanceChunk(m, v.w, v.instances[i], passedAsCodes, hints, b.SectionMax)
		}
		return instanceChunk(m, v.w, v.instances[i], allItems, hints, 0)
	}, b)
	if shown < len(v.instances) {
		more = moreInstances(m, v.w, v.instances[shown:])
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
	w := v.w
	pass, warn, fail := v.out.Counts()
	var s string
	switch v.out.Verdict {
	case precheck.Error:
		s = w.errorSummary(v.out.Progress)
	case precheck.TimedOut:
		s = w.timedOutSummary(v.out.Progress)
	case precheck.Passed:
		s = w.allPassed(pass, len(v.instances))
	default:
		var parts []string
		if fail > 0 {
			parts = append(parts, m.Bold(w.failedN(fail)))
		}
		if warn > 0 {
			parts = append(parts, m.Bold(w.warningsN(warn)))
		}
		parts = append(parts, w.passedN(pass))
		s = strings.Join(parts, w.listSep) + w.onInstances(len(v.instances)) + w.sentenceEnd
	}
	if cause := w.cause(v.out); cause != "" {
		s += m.Br() + m.Bold(w.reason) + " " + m.Prose(cause)
	}
	if OneLine(v.out.Detail) != "" {
		// The cause's own data (a parse error, Security Center's error)
		// is shown as the system said it.
		s += m.Br() + m.Bold(w.detail) + " " + m.Code(v.out.Detail)
	}
	return s
}

// Facts is the line of identifiers and timings at the bottom.
func (v Verdict) Facts(m Markup) string {
	t, o := v.task, v.out
	w := v.w
	parts := taskFacts(m, w, t)
	attempts := o.Attempts
	if attempts == 0 {
		attempts = t.Attempt
	}
	if attempts > 0 {
		parts = append(parts, w.queries(attempts))
	}
	if o.FirstSeen > 0 && o.DecidedAt >= o.FirstSeen {
		parts = append(parts, w.waited(asked(o)))
	}
	if o.DecidedAt > 0 {
		parts = append(parts, w.decided+w.when(time.UnixMilli(o.DecidedAt)))
	}
	return strings.Join(parts, " · ")
}

// Fallback is the one-line notification text, unescaped.
func (v Verdict) Fallback() string { return v.w.fallback(v.Badge(), v.subject, v.task.TaskID) }

// taskFacts names a task, its region and its backup agent.
func taskFacts(m Markup, w *phrases, t precheck.Task) []string {
	parts := []string{w.task + " " + m.Code(t.TaskID)}
	if t.UniRegionID != "" {
		parts = append(parts, w.region+" "+m.Code(t.UniRegionID))
	}
	if t.InstanceUUID != "" {
		parts = append(parts, w.agent+" "+m.Code(t.InstanceUUID))
	}
	return parts
}
