package notify

import (
	"strings"

	"precheckwatch/precheck"
)

// Started is what every channel shows of the notice that a task's
// precheck is running. It mentions nobody.
type Started struct {
	w       *phrases
	task    precheck.Task
	subject string
}

// NewStarted is the running notice of t, to be told in lang.
func NewStarted(t precheck.Task, lang Lang) Started {
	return Started{w: lang.words(), task: t, subject: subjectOf(t, nil)}
}

// Headline is the notice's headline, unescaped.
func (s Started) Headline() string { return s.w.started }

// Title is the notice as a notification names it, in the words of the
// verdicts' titles ("… precheck …"): a robot's keyword is set to match
// them all.
func (s Started) Title() string { return s.w.startedTitle + " · " + OneLine(s.subject) }

// Subject names the task for people, unescaped.
func (s Started) Subject() string { return s.subject }

// Fallback is the one-line notification text, unescaped.
func (s Started) Fallback() string {
	return s.Headline() + s.w.colon + s.subject + s.w.open + s.w.task + " " + s.task.TaskID + s.w.closeParen
}

// Facts names the task, its region and its backup agent.
func (s Started) Facts(m Markup) string { return strings.Join(taskFacts(m, s.w, s.task), " · ") }

// Note says what comes next.
func (s Started) Note() string { return s.w.startedNote }

// AlertCause is what keeps the function from its work.
type AlertCause int

// Alert causes.
const (
	// ServiceDenied: a cloud service refused the function's credentials
	// or permissions.
	ServiceDenied AlertCause = iota + 1
	// RecordUnreachable: the delivery record (DEDUPE_URL) cannot be
	// reached, and nothing is posted until it can.
	RecordUnreachable
)

// Service is a cloud service the function calls, as reports name it.
type Service string

// The services an alert names in the reader's words.
const (
	SecurityCenter Service = "sas"
	MNS            Service = "mns"
)

// Alert is the one message sent when the function itself cannot work
// (Security Center or MNS credentials or permissions fail, the delivery
// record is unreachable): one message for the operator, not a page per
// task. It mentions nobody.
type Alert struct {
	Cause AlertCause
	// Service refused us, with its own error Code, for ServiceDenied.
	Service Service
	Code    string
	// Detail is the error as it was reported, shown verbatim; it must
	// hold no secret.
	Detail string
	// Affected is how many tasks wait on it; 0 when not known.
	Affected int
}

// Headline is the alert's headline in lang.
func (a Alert) Headline(lang Lang) string { return lang.words().alertHeadline }

// CauseLine is the cause in lang on one line, never empty, unescaped.
func (a Alert) CauseLine(lang Lang) string {
	w := lang.words()
	switch a.Cause {
	case ServiceDenied:
		return ClipRunes(OneLine(w.serviceDenied(w.service(a.Service), a.Code)), 200)
	case RecordUnreachable:
		return w.recordUnreachable
	}
	return w.alertNoCause
}

// Fix says in lang what to do, then the detail as it was reported, in
// catalogue prose.
func (a Alert) Fix(lang Lang) string {
	w := lang.words()
	fix := w.alertFixes[a.Cause]
	// One line in a code span: the detail cannot close it early.
	if d := ClipRunes(strings.ReplaceAll(OneLine(a.Detail), "`", "'"), 1000); d != "" {
		fix = strings.TrimSpace(fix + w.sentenceGap + w.detail + w.labelGap + "`" + d + "`")
	}
	return fix
}

// Waiting says in lang that the tasks wait and none is lost.
func (a Alert) Waiting(lang Lang) string { return lang.words().alertWaiting(a.Affected) }
