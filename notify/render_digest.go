package notify

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/slack-go/slack"

	"precheckwatch/precheck"
)

// RenderDigest renders one message for many tasks that finished in one
// invocation: a count per verdict, then each task worst first, the
// non-passing ones with their failing items and fix hints. The on-call team
// is mentioned when any task did not pass. Tasks beyond the message limits
// are counted in an "…and N more tasks" line; RenderDigestPages avoids that.
func RenderDigest(items []Finished, opts RenderOptions) Message {
	d := newDigest(items)
	slackContent, _ := d.slack(opts)
	dingTalkContent, _ := d.dingTalk(opts)
	return Message{Slack: slackContent, DingTalk: dingTalkContent}
}

// DigestPage is one digest message and the tasks it shows.
type DigestPage struct {
	Message Message
	// Tasks are the tasks the message shows, worst first; none is only
	// counted in an "…and N more" line.
	Tasks []Finished
}

// RenderDigestPages splits items into as few digest messages as keep every
// task shown on both channels, worst tasks first; with more than one page,
// each title says which page it is. A caller that records a task as
// delivered with its digest should use this rather than RenderDigest.
func RenderDigestPages(items []Finished, opts RenderOptions) []DigestPage {
	all := newDigest(items)
	var split []digest
	for start := 0; start < len(all.items); {
		rest := all.slice(start, len(all.items))
		_, inSlack := rest.slack(opts)
		_, inDingTalk := rest.dingTalk(opts)
		end := start + max(1, min(inSlack, inDingTalk))
		split = append(split, all.slice(start, end))
		start = end
	}
	pages := make([]DigestPage, len(split))
	for i, d := range split {
		if len(split) > 1 {
			d.page = fmt.Sprintf(" (%d/%d)", i+1, len(split))
		}
		slackContent, _ := d.slack(opts)
		dingTalkContent, _ := d.dingTalk(opts)
		pages[i] = DigestPage{Message: Message{Slack: slackContent, DingTalk: dingTalkContent}, Tasks: d.items}
	}
	return pages
}

// digest holds what both channels show of many finished tasks.
type digest struct {
	items  []Finished    // worst first
	views  []verdictView // items, as shown
	counts map[precheck.Verdict]int
	worst  precheck.Verdict
	alert  bool
	page   string // " (2/3)" when the digest is one page of several
}

func newDigest(items []Finished) digest {
	items = slices.Clone(items)
	slices.SortStableFunc(items, func(a, b Finished) int {
		return verdictRank(b.Outcome.Verdict) - verdictRank(a.Outcome.Verdict)
	})
	views := make([]verdictView, len(items))
	for i, f := range items {
		views[i] = newVerdictView(f.Task, f.Outcome)
	}
	return digestOf(items, views)
}

// slice is the digest of the tasks from i to j, already in order.
func (d digest) slice(i, j int) digest { return digestOf(d.items[i:j], d.views[i:j]) }

func digestOf(items []Finished, views []verdictView) digest {
	d := digest{items: items, views: views, counts: map[precheck.Verdict]int{}, worst: precheck.Passed}
	for _, v := range views {
		d.counts[v.out.Verdict]++
		d.alert = d.alert || alerting(v.out.Verdict)
	}
	if len(views) > 0 {
		d.worst = views[0].out.Verdict
	}
	return d
}

// title is the digest's headline.
func (d digest) title() string {
	if len(d.views) == 0 {
		return "✅ No precheck finished"
	}
	return badge(d.worst) + " · " + plural(len(d.views), "precheck", "prechecks") + " finished" + d.page
}

// tallyLine counts tasks per verdict, worst first.
func (d digest) tallyLine() string {
	verdicts := slices.Collect(maps.Keys(d.counts))
	slices.SortFunc(verdicts, func(a, b precheck.Verdict) int {
		if r := verdictRank(b) - verdictRank(a); r != 0 {
			return r
		}
		return strings.Compare(string(a), string(b))
	})
	var parts []string
	for _, v := range verdicts {
		parts = append(parts, fmt.Sprintf("%s %d", badge(v), d.counts[v]))
	}
	if len(parts) == 0 {
		return "No task reached a verdict."
	}
	return strings.Join(parts, " · ")
}

// moreTasks is the line that counts tasks left out.
func (d digest) moreTasks(m markup, rest []verdictView, console string) string {
	counts := map[precheck.Verdict]int{}
	var order []precheck.Verdict
	for _, v := range rest {
		if counts[v.out.Verdict] == 0 {
			order = append(order, v.out.Verdict)
		}
		counts[v.out.Verdict]++
	}
	var parts []string
	for _, v := range order {
		parts = append(parts, fmt.Sprintf("%d %s", counts[v], badge(v)))
	}
	return m.bold("…and "+plural(len(rest), "more task", "more tasks")) + " (" + strings.Join(parts, ", ") + "): " + m.link("open the console", console)
}

// taskChunk renders one task of a digest: its verdict, name and id, why it
// did not pass, and its instances (passed items as codes). The compact form
// counts passed items, names all-passed instances by id only, and cuts the
// rest short to fit max.
func taskChunk(m markup, v verdictView, compact bool, shownHints map[string]bool, max int) chunk {
	var b strings.Builder
	heading := badge(v.out.Verdict)
	if name := nameOf(v.task, v.instances); name != "" {
		heading += " · " + m.text(name)
	}
	b.WriteString(m.heading(heading + " · task " + m.code(v.task.TaskID)))
	b.WriteString("\n" + v.summary(m))
	hints := maps.Clone(shownHints)
	var c chunk
	form := passedAsCodes
	if compact {
		form = passedAsCount
	}
	var passedIDs []string
	for i, in := range v.instances {
		if compact && in.Worst() == precheck.Pass {
			passedIDs = append(passedIDs, m.code(in.InstanceID)+" ("+sourceType(m, in.SourceType)+")")
			continue
		}
		room := 0
		if compact {
			room = max - m.size(b.String()) - moreItemsReserve
		}
		ic := instanceChunk(m, in, form, hints, room)
		if compact && (room < moreItemsReserve || m.size(ic.text) > room) {
			b.WriteString("\n" + m.item("…and "+plural(len(v.instances)-i, "more instance", "more instances")+" of this task (open the console)"))
			passedIDs = nil
			break
		}
		b.WriteString("\n" + ic.text)
		for _, h := range ic.hints {
			hints[h] = true
			c.hints = append(c.hints, h)
		}
	}
	if len(passedIDs) > 0 {
		line := "\n" + m.item("✅ every check passed on "+strings.Join(passedIDs, ", "))
		if m.size(b.String())+m.size(line) > max {
			line = "\n" + m.item("✅ every check passed on "+plural(len(passedIDs), "more instance", "more instances"))
		}
		b.WriteString(line)
	}
	c.text = b.String()
	return c
}

// slack renders the digest for Slack and says how many tasks it shows.
func (d digest) slack(opts RenderOptions) (SlackContent, int) {
	m := slackMarkup{}
	console := opts.console()
	summary := d.tallyLine()
	text := m.text(d.title() + ": " + summary)
	if d.alert && opts.SlackMention != "" {
		summary = opts.SlackMention + " " + summary
		text = opts.SlackMention + " " + text
	}
	body := []slack.Block{headerBlock(d.title()), sectionBlock(clipRunes(summary, SlackMaxSectionText))}
	tail := []slack.Block{buttonBlock("Open the Security Center console", console)}
	b := slackBudget(slicesConcat(body, tail), 1)
	sections, shown := fit(m, len(d.views), func(i int, compact bool, hints map[string]bool) chunk {
		return taskChunk(m, d.views[i], compact, hints, SlackMaxSectionText)
	}, b)
	var detail []slack.Block
	for _, s := range sections {
		detail = append(detail, sectionBlock(s))
	}
	if shown < len(d.views) {
		detail = append(detail, sectionBlock(d.moreTasks(m, d.views[shown:], console)))
	}
	return SlackContent{
		Text:   clipRunes(text, SlackMaxText),
		Blocks: body,
		Color:  colorOf(d.worst),
		Detail: append(detail, tail...),
	}, shown
}

// dingTalk renders the digest for DingTalk and says how many tasks it shows.
func (d digest) dingTalk(opts RenderOptions) (DingTalkContent, int) {
	m := dingTalkMarkup{}
	console := opts.console()
	head := "### " + d.title() + "\n\n" + d.tallyLine()
	foot := "---\n\n" + m.link("Open the Security Center console", console)
	content := DingTalkContent{Title: clipRunes(d.title(), dingTalkMaxTitle)}
	if d.alert {
		content.AtMobiles, content.AtUserIds = opts.dingTalkAts()
		foot += mentionLine(content.AtMobiles, content.AtUserIds)
	}
	room := DingTalkMaxTextBytes - len(head) - len(foot) - 2*len(chunkSep) - dingTalkNoteReserve
	sections, shown := fit(m, len(d.views), func(i int, compact bool, hints map[string]bool) chunk {
		return taskChunk(m, d.views[i], compact, hints, room)
	}, budget{sectionMax: room, sections: 1, total: room})
	parts := append([]string{head}, sections...)
	if shown < len(d.views) {
		parts = append(parts, d.moreTasks(m, d.views[shown:], console))
	}
	content.Text = strings.Join(append(parts, foot), chunkSep)
	return content, shown
}
