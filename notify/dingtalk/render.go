package dingtalk

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"precheckwatch/notify"
	"precheckwatch/precheck"
)

// MaxTextBytes is the most UTF-8 bytes of markdown text the Renderer puts
// in one message. DingTalk documents no limit for the custom robot; 15,000
// bytes is the documented msgParam limit of its enterprise robot, the
// closest published figure.
const MaxTextBytes = 15000

// maxTitle is the most characters of a title: the notification preview
// shows far fewer.
const maxTitle = 100

// noteReserve is room kept for the "…and N more" line.
const noteReserve = 400

// paragraph separates the parts of a message.
const paragraph = "\n\n"

// Content is a DingTalk markdown message. For a mention to render, the
// text also holds "@<mobile>" or "@<userId>" for each entry.
type Content struct {
	// Title is what the notification and the conversation preview show.
	Title string `json:"title"`
	// Text is the markdown body.
	Text string `json:"text"`
	// AtMobiles and AtUserIds are @-mentioned; empty for a quiet message.
	AtMobiles []string `json:"atMobiles,omitempty"`
	AtUserIds []string `json:"atUserIds,omitempty"`
}

// Plain is the title and the markdown as DingTalk receives them.
func (c Content) Plain() string { return c.Title + "\n\n" + c.Text + "\n" }

// Renderer renders messages in DingTalk markdown.
type Renderer struct {
	// AtMobiles and AtUserIDs are @-mentioned when a verdict is not PASSED
	// (DINGTALK_AT_MOBILES, DINGTALK_AT_USER_IDS).
	AtMobiles, AtUserIDs []string
	// Lang is the language of the messages (DINGTALK_LANG, MESSAGE_LANG).
	Lang notify.Lang
}

func message(c Content) notify.Message { return notify.Message{Content: c} }

// Verdict renders a verdict: heading and summary, instances, facts and
// console link, and @mentions when not PASSED.
func (r Renderer) Verdict(t precheck.Task, o precheck.Outcome) notify.Message {
	m := markup{}
	v := notify.NewVerdict(t, o, r.Lang)
	c := Content{Title: notify.ClipRunes(v.Title(), maxTitle)}
	head := "### " + v.Badge() + " · " + m.Text(v.Subject()) + paragraph + v.Summary(m)
	if steps := v.NextSteps(m); steps != "" {
		head += paragraph + steps
	}
	foot := "---" + paragraph + v.Facts(m) + paragraph + m.Link(r.Lang.Console(), notify.DefaultConsoleURL)
	if v.Alerting() {
		foot += r.mention(&c)
	}
	sections, more := v.Instances(m, room(head, foot))
	c.Text = layout(head, sections, more, foot)
	return message(c)
}

// Digest renders digest pages.
func (r Renderer) Digest(items []notify.Finished) []notify.DigestPage {
	return notify.Pages(items, r.Lang, r.digest)
}

// Split divides items among digest pages as Digest does, without
// rendering them.
func (r Renderer) Split(items []notify.Finished) [][]notify.Finished {
	return notify.Split(items, r.Lang, r.digest)
}

func (r Renderer) digest(d notify.Digest) (notify.Message, int) {
	m := markup{}
	c := Content{Title: notify.ClipRunes(d.Title(), maxTitle)}
	head := "### " + d.Title() + paragraph + d.Tally()
	foot := "---" + paragraph + m.Link(r.Lang.Console(), notify.DefaultConsoleURL)
	if d.Alerting() {
		foot += r.mention(&c)
	}
	sections, shown, more := d.Tasks(m, room(head, foot))
	c.Text = layout(head, sections, more, foot)
	return message(c), shown
}

// Started renders the running notice.
func (r Renderer) Started(t precheck.Task) notify.Message {
	m := markup{}
	s := notify.NewStarted(t, r.Lang)
	return message(Content{
		Title: notify.ClipRunes(s.Title(), maxTitle),
		Text:  "### " + s.Headline() + " · " + m.Text(s.Subject()) + paragraph + s.Facts(m) + paragraph + s.Note(),
	})
}

// OperatorAlert renders the operator alert.
func (r Renderer) OperatorAlert(a notify.Alert) notify.Message {
	m := markup{}
	body := m.Bold(m.Text(a.CauseLine(r.Lang)))
	if fix := a.Fix(r.Lang); fix != "" {
		body += paragraph + m.Prose(fix)
	}
	return message(Content{
		Title: notify.ClipRunes(a.Headline(r.Lang)+" · "+a.CauseLine(r.Lang), maxTitle),
		Text:  "### " + a.Headline(r.Lang) + paragraph + body + paragraph + "> " + a.Waiting(r.Lang),
	})
}

// Restore reads back content this sink rendered, kept as JSON.
func (*Robot) Restore(kept []byte) (notify.Content, error) {
	var c Content
	if err := json.Unmarshal(kept, &c); err != nil {
		return nil, fmt.Errorf("dingtalk: kept message: %w", err)
	}
	return c, nil
}

// mention sets c's mentions and returns the "@…" paragraph DingTalk needs
// in the text for each to render; "" when nobody is to be mentioned.
func (r Renderer) mention(c *Content) string {
	c.AtMobiles, c.AtUserIds = nonEmpty(r.AtMobiles), nonEmpty(r.AtUserIDs)
	if len(c.AtMobiles)+len(c.AtUserIds) == 0 {
		return ""
	}
	var ats []string
	for _, s := range append(append([]string(nil), c.AtMobiles...), c.AtUserIds...) {
		ats = append(ats, "@"+s)
	}
	return paragraph + strings.Join(ats, " ")
}

func nonEmpty(list []string) []string {
	var out []string
	for _, s := range list {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// room is the budget left for instances or tasks between head and foot:
// one section, as DingTalk's markdown is one text.
func room(head, foot string) notify.Budget {
	n := MaxTextBytes - len(head) - len(foot) - 2*len(paragraph) - noteReserve
	return notify.Budget{SectionMax: n, Sections: 1, Total: n}
}

// layout joins the parts of a message into its text.
func layout(head string, sections []string, more, foot string) string {
	parts := append([]string{head}, sections...)
	if more != "" {
		parts = append(parts, more)
	}
	return strings.Join(append(parts, foot), paragraph)
}

// Check reports every way c breaks what the Renderer promises
// DingTalk: a title and a text, valid UTF-8, the text within
// MaxTextBytes, and every mention also written in the text.
func (c Content) Check() error {
	var errs []error
	fail := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if strings.TrimSpace(c.Title) == "" {
		fail("title is empty")
	}
	if n := utf8.RuneCountInString(c.Title); n > maxTitle {
		fail("title has %d characters, over %d", n, maxTitle)
	}
	if strings.TrimSpace(c.Text) == "" {
		fail("text is empty")
	}
	if len(c.Text) > MaxTextBytes {
		fail("text has %d bytes, over %d", len(c.Text), MaxTextBytes)
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
