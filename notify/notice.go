package notify

import (
	"fmt"
	"strings"

	"precheckwatch/precheck"
)

// Started is what every channel shows of the notice that a task's
// precheck is running. It mentions nobody.
type Started struct {
	task    precheck.Task
	subject string
}

// NewStarted is the running notice of t.
func NewStarted(t precheck.Task) Started { return Started{task: t, subject: subjectOf(t, nil)} }

// Headline is the notice's headline, unescaped.
func (s Started) Headline() string { return "⏳ Precheck running" }

// Title is the notice as a notification names it, in the words of the
// verdicts' titles ("… precheck …"): a robot's keyword is set to match
// them all.
func (s Started) Title() string { return "⏳ precheck running · " + OneLine(s.subject) }

// Subject names the task for people, unescaped.
func (s Started) Subject() string { return s.subject }

// Fallback is the one-line notification text, unescaped.
func (s Started) Fallback() string {
	return s.Headline() + ": " + s.subject + " (task " + s.task.TaskID + ")"
}

// Facts names the task, its region and its backup agent.
func (s Started) Facts(m Markup) string {
	t := s.task
	parts := []string{"task " + m.Code(t.TaskID)}
	if t.UniRegionID != "" {
		parts = append(parts, "region "+m.Code(t.UniRegionID))
	}
	if t.InstanceUUID != "" {
		parts = append(parts, "agent "+m.Code(t.InstanceUUID))
	}
	return strings.Join(parts, " · ")
}

// Note says what comes next.
func (s Started) Note() string { return "The verdict follows when Security Center reports it." }

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

// Headline is the alert's headline.
func (a Alert) Headline() string { return "🚨 precheckwatch needs an operator" }

// CauseLine is the cause on one line, never empty, unescaped.
func (a Alert) CauseLine() string {
	if c := ClipRunes(OneLine(a.Cause), 200); c != "" {
		return c
	}
	return "precheckwatch cannot reach its cloud services"
}

// Fix is the detail, trimmed and bounded, in catalogue prose.
func (a Alert) Fix() string { return ClipRunes(strings.TrimSpace(a.Detail), 2000) }

// Waiting says that the tasks wait and none is lost.
func (a Alert) Waiting() string {
	switch {
	case a.Affected == 1:
		return "1 task stays queued and is checked again once this is fixed; it is not lost."
	case a.Affected > 1:
		return fmt.Sprintf("%d tasks stay queued and are checked again once this is fixed; none is lost.", a.Affected)
	default:
		return "Pending tasks stay queued and are checked again once this is fixed; none is lost."
	}
}
