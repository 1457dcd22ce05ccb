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

// Alert is the one message sent when the function itself cannot work
// (Security Center or MNS credentials or permissions fail): one message for
// the operator, not a page per task. It mentions nobody.
type Alert struct {
	// Cause says what failed.
	Cause string
	// Detail says how to fix it; it must hold no secret.
	Detail string
	// Affected is how many tasks wait on it; 0 when not known.
	Affected int
}

// Headline is the alert's headline in lang.
func (a Alert) Headline(lang Lang) string { return lang.words().alertHeadline }

// CauseLine is the cause on one line, never empty, unescaped.
func (a Alert) CauseLine(lang Lang) string {
	if c := ClipRunes(OneLine(a.Cause), 200); c != "" {
		return c
	}
	return lang.words().alertNoCause
}

// Fix is the detail, trimmed, bounded and valid UTF-8, in catalogue prose.
func (a Alert) Fix() string {
	return ClipRunes(strings.TrimSpace(strings.ToValidUTF8(a.Detail, "\uFFFD")), 2000)
}

// Waiting says in lang that the tasks wait and none is lost.
func (a Alert) Waiting(lang Lang) string { return lang.words().alertWaiting(a.Affected) }
