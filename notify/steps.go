package notify

import (
	"fmt"
	"strings"

	"precheckwatch/precheck"
)

// NextSteps is what to do about a precheck that did not run to a verdict
// (ERROR or TIMED_OUT): what to check on the host and its backup agent,
// and how to run the precheck again; "" for every other verdict.
func (v Verdict) NextSteps(m Markup) string {
	w := v.w
	var steps []string
	switch v.out.Verdict {
	case precheck.Error:
		steps = []string{w.checkAgent, w.readFailure}
	case precheck.TimedOut:
		steps = []string{w.stillRunning, w.checkAgent}
	default:
		return ""
	}
	steps = append(steps, m.Prose(w.runAgain)+" "+m.Code(startCommand(v.task)))
	lines := []string{m.Bold(w.nextSteps)}
	for i, s := range steps {
		if i < len(steps)-1 {
			s = m.Prose(s)
		}
		lines = append(lines, fmt.Sprintf("%d. %s", i+1, s))
	}
	return strings.Join(lines, "\n")
}

// startCommand is the command that starts t's precheck again and queues
// it, with what the task says of its database; the agent's UUID, when the
// task lacks it, is left for the reader to fill in.
func startCommand(t precheck.Task) string {
	uuid := OneLine(t.InstanceUUID)
	if uuid == "" {
		uuid = "<agent-uuid>"
	}
	cmd := "go run . start --database-type " + shellWord(t.DatabaseType, "<MYSQL|MSSQL|ORACLE>") +
		" --instance-uuid " + shellWord(uuid, "") + " --region " + shellWord(t.UniRegionID, "<region>")
	if label := OneLine(t.Label); label != "" {
		cmd += " --label " + shellWord(label, "")
	}
	return cmd
}

// shellWord is s as one shell word (quoted when it holds anything but
// letters, digits and -_.:/), or placeholder when s is empty.
func shellWord(s, placeholder string) string {
	s = OneLine(s)
	if s == "" {
		return placeholder
	}
	if !strings.ContainsFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_.:/<>|", r))
	}) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
