package notify

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/slack-go/slack"

	"precheckwatch/precheck"
)

// DefaultConsoleURL opens Security Center's console, where database backup
// and its prechecks live. The console's in-page routes are not documented
// and change between releases, so messages link the console itself.
const DefaultConsoleURL = "https://yundun.console.aliyun.com/?p=sas"

// RenderOptions is what rendering needs besides the task: who to mention
// when a verdict is not PASSED, and where the console is.
type RenderOptions struct {
	// SlackMention is Slack markup put before the message when a verdict is
	// not PASSED (SLACK_MENTION), e.g. "<!subteam^S123>" or "<@U123>". It is
	// inserted as is, not escaped.
	SlackMention string
	// DingTalkAtMobiles and DingTalkAtUserIDs are @-mentioned when a verdict
	// is not PASSED (DINGTALK_AT_MOBILES, DINGTALK_AT_USER_IDS).
	DingTalkAtMobiles []string
	DingTalkAtUserIDs []string
	// ConsoleURL is the console link; empty, or anything but an absolute
	// http(s) URL, means DefaultConsoleURL.
	ConsoleURL string
}

// console is the console link to put in messages.
func (o RenderOptions) console() string {
	u, err := url.Parse(o.ConsoleURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || len(o.ConsoleURL) > slackMaxButtonURL {
		return DefaultConsoleURL
	}
	return o.ConsoleURL
}

// dingTalkAts returns the non-empty mobiles and user ids to mention.
func (o RenderOptions) dingTalkAts() (mobiles, userIDs []string) {
	clean := func(list []string) []string {
		var out []string
		for _, s := range list {
			if s = strings.TrimSpace(s); s != "" {
				out = append(out, s)
			}
		}
		return out
	}
	return clean(o.DingTalkAtMobiles), clean(o.DingTalkAtUserIDs)
}

// Finished is a task that reached its verdict.
type Finished struct {
	Task    precheck.Task
	Outcome precheck.Outcome
}

// RenderVerdict renders a task's final verdict for every channel: what the
// verdict is, on which database instances, every item with its raw result
// (non-passing first, each with its fix hint), and where to look next. The
// on-call team is mentioned only when the verdict is not PASSED. Key and
// ThreadOf are left to the caller.
func RenderVerdict(t precheck.Task, o precheck.Outcome, opts RenderOptions) Message {
	v := newVerdictView(t, o)
	return Message{
		Slack:    v.slack(opts),
		DingTalk: v.dingTalk(opts),
	}
}

// RenderStarted renders the short notice that a task's precheck is running.
// Slack threads the verdict under it; nobody is mentioned.
func RenderStarted(t precheck.Task) Message {
	subject := subjectOf(t, nil)
	facts := func(m markup) string {
		parts := []string{"task " + m.code(t.TaskID)}
		if t.UniRegionID != "" {
			parts = append(parts, "region "+m.code(t.UniRegionID))
		}
		if t.InstanceUUID != "" {
			parts = append(parts, "agent "+m.code(t.InstanceUUID))
		}
		return strings.Join(parts, " · ")
	}
	const note = "The verdict follows when Security Center reports it."
	s, d := slackMarkup{}, dingTalkMarkup{}
	return Message{
		Slack: SlackContent{
			Text: s.text("⏳ Precheck running: " + subject + " (task " + t.TaskID + ")"),
			Blocks: []slack.Block{
				sectionBlock("⏳ *Precheck running* · " + s.text(subject) + "\n" + facts(s) + "\n" + note),
			},
		},
		DingTalk: DingTalkContent{
			Title: clipRunes("⏳ precheck running · "+oneLine(subject), dingTalkMaxTitle),
			Text:  "### ⏳ Precheck running · " + d.text(subject) + "\n\n" + facts(d) + "\n\n" + note,
		},
	}
}

// RenderOperatorAlert renders the one alert sent when the function itself
// cannot work (Security Center or MNS credentials or permissions fail):
// cause says what failed, detail how to fix it, affected how many tasks wait
// on it. It mentions nobody: it is one message for the operator, not a page
// per task. detail must hold no secret.
func RenderOperatorAlert(cause, detail string, affected int) Message {
	cause = clipRunes(oneLine(cause), 200)
	if cause == "" {
		cause = "precheckwatch cannot reach its cloud services"
	}
	detail = clipRunes(strings.TrimSpace(detail), 2000)
	var waiting string
	switch {
	case affected == 1:
		waiting = "1 task stays queued and is checked again once this is fixed; it is not lost."
	case affected > 1:
		waiting = fmt.Sprintf("%d tasks stay queued and are checked again once this is fixed; none is lost.", affected)
	default:
		waiting = "Pending tasks stay queued and are checked again once this is fixed; none is lost."
	}
	const title = "🚨 precheckwatch needs an operator"
	s, d := slackMarkup{}, dingTalkMarkup{}
	slackBody := "*" + s.text(cause) + "*"
	dingBody := "**" + d.text(cause) + "**"
	if detail != "" {
		slackBody += "\n" + s.prose(detail)
		dingBody += "\n\n" + d.prose(detail)
	}
	return Message{
		Slack: SlackContent{
			Text:   s.text(title + ": " + cause + ". " + waiting),
			Blocks: []slack.Block{headerBlock(title)},
			Color:  "danger",
			Detail: []slack.Block{
				sectionBlock(clipRunes(slackBody, SlackMaxSectionText)),
				contextBlock(s.text(waiting)),
			},
		},
		DingTalk: DingTalkContent{
			Title: clipRunes(title+": "+cause, dingTalkMaxTitle),
			Text:  "### " + title + "\n\n" + dingBody + "\n\n> " + waiting,
		},
	}
}

// verdictView holds what both channels show of one finished task.
type verdictView struct {
	task      precheck.Task
	out       precheck.Outcome
	instances []precheck.Instance // worst first, items worst first
	subject   string              // raw, unescaped
}

func newVerdictView(t precheck.Task, o precheck.Outcome) verdictView {
	instances := worstFirst(o.Instances)
	return verdictView{task: t, out: o, instances: instances, subject: subjectOf(t, instances)}
}

// alerting reports whether the verdict calls for the on-call team.
func alerting(v precheck.Verdict) bool { return v != precheck.Passed }

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
	if oneLine(t.Label) != "" {
		return nameOf(t, instances)
	}
	return joinNonEmpty(databaseOf(t, instances), t.TaskID)
}

// nameOf is the task's label and database kind; "" when it has neither.
func nameOf(t precheck.Task, instances []precheck.Instance) string {
	return joinNonEmpty(oneLine(t.Label), databaseOf(t, instances))
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
	return oneLine(raw)
}

// badge is the verdict as emoji and word.
func badge(v precheck.Verdict) string {
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
		return "❓ " + clipRunes(oneLine(string(v)), 40)
	}
}

// colorOf is the Slack bar colour of a verdict.
func colorOf(v precheck.Verdict) string {
	switch v {
	case precheck.Passed:
		return "good"
	case precheck.Warning:
		return "warning"
	default:
		return "danger"
	}
}

// verdictRank orders verdicts worst first for digests: failures before
// prechecks that could not run, before warnings, before passes.
func verdictRank(v precheck.Verdict) int {
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

// summary is one or two sentences under the header.
func (v verdictView) summary(m markup) string {
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
			parts = append(parts, m.bold(fmt.Sprintf("%d failed", fail)))
		}
		if warn > 0 {
			parts = append(parts, m.bold(plural(warn, "warning", "warnings")))
		}
		parts = append(parts, fmt.Sprintf("%d passed", pass))
		s = strings.Join(parts, ", ") + on
	}
	if reason := m.textUpTo(v.out.Reason, maxReasonRunes); reason != "" {
		s += m.br() + m.bold("Reason:") + " " + reason
	}
	return s
}

// facts is the line of identifiers and timings at the bottom.
func (v verdictView) facts(m markup) string {
	t, o := v.task, v.out
	parts := []string{"task " + m.code(t.TaskID)}
	if t.UniRegionID != "" {
		parts = append(parts, "region "+m.code(t.UniRegionID))
	}
	if t.InstanceUUID != "" {
		parts = append(parts, "agent "+m.code(t.InstanceUUID))
	}
	attempts := o.Attempts
	if attempts == 0 {
		attempts = t.Attempt
	}
	if attempts > 0 {
		parts = append(parts, plural(attempts, "query", "queries"))
	}
	first := o.FirstSeen
	if first == 0 {
		first = t.FirstSeen
	}
	if first > 0 && o.DecidedAt >= first {
		waited := time.Duration(o.DecidedAt-first) * time.Millisecond
		parts = append(parts, waited.Round(time.Second).String()+" from first seen to verdict")
	}
	if o.DecidedAt > 0 {
		parts = append(parts, "decided "+utc(time.UnixMilli(o.DecidedAt)))
	}
	return strings.Join(parts, " · ")
}

// fallback is the one-line notification text.
func (v verdictView) fallback() string {
	return badge(v.out.Verdict) + " precheck: " + v.subject + " (task " + v.task.TaskID + ")"
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
