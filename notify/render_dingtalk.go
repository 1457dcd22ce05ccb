package notify

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// DingTalkMaxTextBytes is the most UTF-8 bytes of markdown text the
// renderer puts in one DingTalk message. DingTalk documents no limit for
// the custom robot; 15,000 bytes is the documented msgParam limit of its
// enterprise robot, the closest published figure.
const DingTalkMaxTextBytes = 15000

// dingTalkMaxTitle is the most characters of a title: the notification
// preview shows far fewer.
const dingTalkMaxTitle = 100

// dingTalkNoteReserve is room kept for the "…and N more" line.
const dingTalkNoteReserve = 400

// dingTalk renders a verdict as DingTalk markdown: heading and summary,
// instances, facts and console link, and @mentions when not PASSED.
func (v verdictView) dingTalk(opts RenderOptions) DingTalkContent {
	m := dingTalkMarkup{}
	console := opts.console()
	head := "### " + badge(v.out.Verdict) + " · " + m.text(v.subject) + "\n\n" + v.summary(m)
	foot := "---\n\n" + v.facts(m) + "\n\n" + m.link("Open the Security Center console", console)
	content := DingTalkContent{
		Title: clipRunes(badge(v.out.Verdict)+" precheck · "+oneLine(v.subject), dingTalkMaxTitle),
	}
	if alerting(v.out.Verdict) {
		content.AtMobiles, content.AtUserIds = opts.dingTalkAts()
		foot += mentionLine(content.AtMobiles, content.AtUserIds)
	}
	room := DingTalkMaxTextBytes - len(head) - len(foot) - 2*len(chunkSep) - dingTalkNoteReserve
	sections, shown := fit(m, len(v.instances), func(i int, compact bool, hints map[string]bool) chunk {
		if compact {
			return instanceChunk(m, v.instances[i], passedAsCodes, hints, room)
		}
		return instanceChunk(m, v.instances[i], allItems, hints, 0)
	}, budget{sectionMax: room, sections: 1, total: room})
	parts := append([]string{head}, sections...)
	if shown < len(v.instances) {
		parts = append(parts, moreInstances(m, v.instances[shown:], console))
	}
	content.Text = strings.Join(append(parts, foot), chunkSep)
	return content
}

// mentionLine is the "@…" paragraph DingTalk needs in the text for each
// mention in the at field to render; "" when nobody is mentioned.
func mentionLine(mobiles, userIDs []string) string {
	if len(mobiles)+len(userIDs) == 0 {
		return ""
	}
	var ats []string
	for _, s := range append(append([]string(nil), mobiles...), userIDs...) {
		ats = append(ats, "@"+s)
	}
	return chunkSep + strings.Join(ats, " ")
}

// CheckDingTalkLimits reports every way c breaks what the renderer promises
// DingTalk: a title and a text, valid UTF-8, the text within
// DingTalkMaxTextBytes, and every mention also written in the text.
func CheckDingTalkLimits(c DingTalkContent) error {
	var errs []error
	fail := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if strings.TrimSpace(c.Title) == "" {
		fail("title is empty")
	}
	if n := utf8.RuneCountInString(c.Title); n > dingTalkMaxTitle {
		fail("title has %d characters, over %d", n, dingTalkMaxTitle)
	}
	if strings.TrimSpace(c.Text) == "" {
		fail("text is empty")
	}
	if len(c.Text) > DingTalkMaxTextBytes {
		fail("text has %d bytes, over %d", len(c.Text), DingTalkMaxTextBytes)
	}
	if !utf8.ValidString(c.Title) || !utf8.ValidString(c.Text) {
		fail("title or text is not valid UTF-8")
	}
	for _, at := range append(append([]string(nil), c.AtMobiles...), c.AtUserIds...) {
		if !strings.Contains(c.Text, "@"+at) {
			fail("mention %q is not written in the text, so it does not render", at)
		}
	}
	return errors.Join(errs...)
}
