package slack

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"unicode/utf8"

	slackapi "github.com/slack-go/slack"

	"precheckwatch/notify"
	"precheckwatch/precheck"
)

// Slack Block Kit limits the Renderer keeps (docs.slack.dev block
// reference). Slack answers invalid_blocks or msg_blocks_too_long past them;
// the Renderer degrades the message instead.
const (
	// MaxBlocks is the most blocks in a message; body and attachment
	// blocks are counted together, to be safe.
	MaxBlocks = 50
	// MaxSectionText is the most characters of a section's text.
	MaxSectionText = 3000
	// MaxHeaderText is the most characters of a header.
	MaxHeaderText = 150
	// MaxBlockText is the most characters of text in all blocks together.
	// Slack documents no such limit, but answers msg_blocks_too_long near
	// 13,000 (slackapi/bolt-js#2509).
	MaxBlockText = 12000
	// MaxText is the most characters of the fallback text.
	MaxText = 40000

	maxFields          = 10
	maxFieldText       = 2000
	maxContextElements = 10
	maxActionElements  = 25
	maxButtonText      = 75
	maxButtonURL       = 3000
	maxBlockID         = 255
)

// noteReserve is room kept for the "…and N more" section.
const noteReserve = 400

// Content is a Slack message: fallback text, blocks in the body and, when
// Color is set, Detail blocks in an attachment beside a coloured bar
// (attachments are the only way Slack draws one).
type Content struct {
	// Text is the notification and screen-reader fallback, sent unescaped:
	// user data is escaped (&, <, >) when rendering, <@U…> mentions kept.
	Text string
	// Blocks form the message body.
	Blocks []slackapi.Block
	// Color is the bar colour: "good", "warning", "danger" or "#RRGGBB".
	// Empty sends no attachment.
	Color string
	// Detail blocks are shown inside the coloured attachment.
	Detail []slackapi.Block
	// Broadcast also shows a thread reply in the channel (reply_broadcast).
	Broadcast bool
}

// Renderer renders messages in Slack's Block Kit.
type Renderer struct {
	// Mention is Slack markup put before a message whose verdict is not
	// PASSED (SLACK_MENTION), e.g. "<!subteam^S123>"; inserted as is.
	Mention string
	// Lang is the language of the messages (SLACK_LANG, MESSAGE_LANG).
	Lang notify.Lang
}

func message(c Content) notify.Message { return notify.Message{Content: c} }

// Verdict renders a verdict: header and summary in the body; instances,
// facts and console link beside the verdict's colour bar.
func (r Renderer) Verdict(t precheck.Task, o precheck.Outcome) notify.Message {
	m := markup{}
	v := notify.NewVerdict(t, o, r.Lang)
	summary := v.Summary(m)
	if steps := v.NextSteps(m); steps != "" {
		summary += "\n\n" + steps
	}
	text := m.Text(v.Fallback())
	if v.Alerting() && r.Mention != "" {
		summary = r.Mention + " " + summary
		text = r.Mention + " " + text
	}
	body := []slackapi.Block{
		headerBlock(v.Badge() + " · " + v.Subject()),
		sectionBlock(notify.ClipRunes(summary, MaxSectionText)),
	}
	tail := []slackapi.Block{
		contextBlock(v.Facts(m)),
		buttonBlock(r.Lang.Console(), notify.DefaultConsoleURL),
	}
	sections, more := v.Instances(m, budget(slicesConcat(body, tail), 1))
	return message(Content{
		Text:   notify.ClipRunes(text, MaxText),
		Blocks: body,
		Color:  colorOf(v.Verdict()),
		Detail: append(sectionBlocks(sections, more), tail...),
	})
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

// digest renders one digest and says how many of its tasks it shows.
func (r Renderer) digest(d notify.Digest) (notify.Message, int) {
	m := markup{}
	summary := d.Tally()
	text := m.Text(d.Title() + ": " + summary)
	if d.Alerting() && r.Mention != "" {
		summary = r.Mention + " " + summary
		text = r.Mention + " " + text
	}
	body := []slackapi.Block{headerBlock(d.Title()), sectionBlock(notify.ClipRunes(summary, MaxSectionText))}
	tail := []slackapi.Block{buttonBlock(r.Lang.Console(), notify.DefaultConsoleURL)}
	sections, shown, more := d.Tasks(m, budget(slicesConcat(body, tail), 1))
	return message(Content{
		Text:   notify.ClipRunes(text, MaxText),
		Blocks: body,
		Color:  colorOf(d.Worst()),
		Detail: append(sectionBlocks(sections, more), tail...),
	}), shown
}

// Started renders the running notice; the verdict threads under it.
func (r Renderer) Started(t precheck.Task) notify.Message {
	m := markup{}
	s := notify.NewStarted(t, r.Lang)
	return message(Content{
		Text: m.Text(s.Fallback()),
		Blocks: []slackapi.Block{
			sectionBlock(m.Bold(s.Headline()) + " · " + m.Text(s.Subject()) + "\n" + s.Facts(m) + "\n" + s.Note()),
		},
	})
}

// OperatorAlert renders the operator alert beside a red bar.
func (r Renderer) OperatorAlert(a notify.Alert) notify.Message {
	m := markup{}
	body := m.Bold(m.Text(a.CauseLine(r.Lang)))
	if fix := a.Fix(r.Lang); fix != "" {
		body += "\n" + m.Prose(fix)
	}
	return message(Content{
		Text:   m.Text(a.Headline(r.Lang) + ": " + a.CauseLine(r.Lang) + ". " + a.Waiting(r.Lang)),
		Blocks: []slackapi.Block{headerBlock(a.Headline(r.Lang))},
		Color:  "danger",
		Detail: []slackapi.Block{
			sectionBlock(notify.ClipRunes(body, MaxSectionText)),
			contextBlock(m.Text(a.Waiting(r.Lang))),
		},
	})
}

// sectionBlocks puts each section, and the "…and N more" line when there
// is one, in a block of its own.
func sectionBlocks(sections []string, more string) []slackapi.Block {
	var blocks []slackapi.Block
	for _, s := range sections {
		blocks = append(blocks, sectionBlock(s))
	}
	if more != "" {
		blocks = append(blocks, sectionBlock(more))
	}
	return blocks
}

// colorOf is the bar colour of a verdict.
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

// budget is what is left for sections once the fixed blocks are in,
// keeping notes more blocks and room for a note.
func budget(fixed []slackapi.Block, notes int) notify.Budget {
	return notify.Budget{
		SectionMax: MaxSectionText,
		Sections:   MaxBlocks - len(fixed) - notes,
		Total:      MaxBlockText - blockText(fixed) - notes*noteReserve,
	}
}

func slicesConcat(a, b []slackapi.Block) []slackapi.Block {
	return append(append([]slackapi.Block(nil), a...), b...)
}

func headerBlock(text string) slackapi.Block {
	return slackapi.NewHeaderBlock(slackapi.NewTextBlockObject(slackapi.PlainTextType, notify.ClipRunes(notify.OneLine(text), MaxHeaderText), true, false))
}

func sectionBlock(mrkdwn string) slackapi.Block {
	return slackapi.NewSectionBlock(slackapi.NewTextBlockObject(slackapi.MarkdownType, mrkdwn, false, false), nil, nil)
}

func contextBlock(mrkdwn string) slackapi.Block {
	return slackapi.NewContextBlock("", slackapi.NewTextBlockObject(slackapi.MarkdownType, notify.ClipRunes(mrkdwn, MaxSectionText), false, false))
}

func buttonBlock(label, url string) slackapi.Block {
	button := slackapi.NewButtonBlockElement("", "", slackapi.NewTextBlockObject(slackapi.PlainTextType, label, true, false)).WithURL(url)
	return slackapi.NewActionBlock("", button)
}

// Check reports every way c breaks Slack's message limits: block
// count, text lengths per block and in all, element counts, block ids, and
// a Detail that would be dropped for want of a Color. It knows the block
// types the Renderer uses (header, section, context, actions, divider) and
// reports any other as unchecked.
func (c Content) Check() error {
	var errs []error
	fail := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	switch n := utf8.RuneCountInString(c.Text); {
	case strings.TrimSpace(c.Text) == "":
		fail("fallback text is empty")
	case n > MaxText:
		fail("fallback text has %d characters, over %d", n, MaxText)
	}
	if n := len(c.Blocks) + len(c.Detail); n > MaxBlocks {
		fail("%d blocks (%d body + %d attachment), over %d", n, len(c.Blocks), len(c.Detail), MaxBlocks)
	}
	if len(c.Detail) > 0 && c.Color == "" {
		fail("attachment blocks without a colour are never sent")
	}
	if c.Color != "" && !validColor(c.Color) {
		fail("colour %q is not good, warning, danger or #RRGGBB", c.Color)
	}
	if n := blockText(c.Blocks) + blockText(c.Detail); n > MaxBlockText {
		fail("%d characters of block text, over %d", n, MaxBlockText)
	}
	ids := map[string]bool{}
	for i, b := range slicesConcat(c.Blocks, c.Detail) {
		if b == nil {
			fail("block %d is nil", i)
			continue
		}
		if id := b.ID(); id != "" {
			if ids[id] {
				fail("block %d: block_id %q is not unique", i, id)
			}
			ids[id] = true
			if len(id) > maxBlockID {
				fail("block %d: block_id has %d characters, over %d", i, len(id), maxBlockID)
			}
		}
		for _, err := range checkBlock(b) {
			fail("block %d (%s): %w", i, b.BlockType(), err)
		}
	}
	return errors.Join(errs...)
}

func checkBlock(b slackapi.Block) []error {
	var errs []error
	text := func(what string, t *slackapi.TextBlockObject, max int) {
		switch {
		case t == nil || t.Text == "":
			errs = append(errs, fmt.Errorf("%s is empty", what))
		case t.Type != slackapi.PlainTextType && t.Type != slackapi.MarkdownType:
			errs = append(errs, fmt.Errorf("%s has type %q", what, t.Type))
		case utf8.RuneCountInString(t.Text) > max:
			errs = append(errs, fmt.Errorf("%s has %d characters, over %d", what, utf8.RuneCountInString(t.Text), max))
		}
	}
	switch b := b.(type) {
	case *slackapi.HeaderBlock:
		text("header text", b.Text, MaxHeaderText)
		if b.Text != nil && b.Text.Type != slackapi.PlainTextType {
			errs = append(errs, errors.New("header text must be plain_text"))
		}
	case *slackapi.SectionBlock:
		if b.Text == nil && len(b.Fields) == 0 {
			errs = append(errs, errors.New("section has neither text nor fields"))
		}
		if b.Text != nil {
			text("section text", b.Text, MaxSectionText)
		}
		if len(b.Fields) > maxFields {
			errs = append(errs, fmt.Errorf("%d fields, over %d", len(b.Fields), maxFields))
		}
		for i, f := range b.Fields {
			text(fmt.Sprintf("field %d", i), f, maxFieldText)
		}
	case *slackapi.ContextBlock:
		els := b.ContextElements.Elements
		if len(els) == 0 || len(els) > maxContextElements {
			errs = append(errs, fmt.Errorf("%d elements, want 1 to %d", len(els), maxContextElements))
		}
		for i, el := range els {
			if t, ok := el.(*slackapi.TextBlockObject); ok {
				text(fmt.Sprintf("element %d", i), t, MaxSectionText)
			}
		}
	case *slackapi.ActionBlock:
		var els []slackapi.BlockElement
		if b.Elements != nil {
			els = b.Elements.ElementSet
		}
		if len(els) == 0 || len(els) > maxActionElements {
			errs = append(errs, fmt.Errorf("%d elements, want 1 to %d", len(els), maxActionElements))
		}
		for i, el := range els {
			if btn, ok := el.(*slackapi.ButtonBlockElement); ok {
				text(fmt.Sprintf("button %d", i), btn.Text, maxButtonText)
				if len(btn.URL) > maxButtonURL {
					errs = append(errs, fmt.Errorf("button %d url has %d characters, over %d", i, len(btn.URL), maxButtonURL))
				}
			}
		}
	case *slackapi.DividerBlock:
	default:
		errs = append(errs, fmt.Errorf("block type %T is not one the limits are checked for", b))
	}
	return errs
}

// The patterns are compiled on first use: a function's cold start need not
// compile what only a rendering or a check of limits runs.
var (
	hexColor = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^#[0-9A-Fa-f]{6}$`) })
	angle    = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`<([^<>|]*)(?:\|([^<>]*))?>`) })
)

func validColor(c string) bool {
	return c == "good" || c == "warning" || c == "danger" || hexColor().MatchString(c)
}

// blockText counts the characters of text in blocks, as Slack counts
// toward msg_blocks_too_long: headers, sections and their fields, context
// text and button labels.
func blockText(blocks []slackapi.Block) int {
	n := 0
	count := func(t *slackapi.TextBlockObject) {
		if t != nil {
			n += utf8.RuneCountInString(t.Text)
		}
	}
	for _, b := range blocks {
		switch b := b.(type) {
		case *slackapi.HeaderBlock:
			count(b.Text)
		case *slackapi.SectionBlock:
			count(b.Text)
			for _, f := range b.Fields {
				count(f)
			}
		case *slackapi.ContextBlock:
			for _, el := range b.ContextElements.Elements {
				if t, ok := el.(*slackapi.TextBlockObject); ok {
					count(t)
				}
			}
		case *slackapi.ActionBlock:
			if b.Elements != nil {
				for _, el := range b.Elements.ElementSet {
					if btn, ok := el.(*slackapi.ButtonBlockElement); ok {
						count(btn.Text)
					}
				}
			}
		}
	}
	return n
}

// Plain renders the message as plain lines for a terminal: the body,
// then the attachment behind a bar (its colour repeats the verdict the
// text already shows); links, mentions and entities become readable text.
func (c Content) Plain() string {
	var b strings.Builder
	if len(c.Blocks) == 0 && len(c.Detail) == 0 {
		b.WriteString(plain(c.Text) + "\n")
	}
	for _, blk := range c.Blocks {
		for _, line := range blockLines(blk) {
			b.WriteString(line + "\n")
		}
	}
	if len(c.Detail) > 0 {
		for _, blk := range c.Detail {
			for _, line := range blockLines(blk) {
				b.WriteString(strings.TrimRight("┃ "+line, " ") + "\n")
			}
		}
	}
	return b.String()
}

func blockLines(b slackapi.Block) []string {
	switch b := b.(type) {
	case *slackapi.HeaderBlock:
		if b.Text == nil {
			return nil
		}
		return []string{b.Text.Text, strings.Repeat("═", min(utf8.RuneCountInString(b.Text.Text), 60))}
	case *slackapi.SectionBlock:
		var lines []string
		if b.Text != nil {
			lines = append(lines, strings.Split(plain(b.Text.Text), "\n")...)
		}
		for _, f := range b.Fields {
			lines = append(lines, strings.Split(plain(f.Text), "\n")...)
		}
		return append(lines, "")
	case *slackapi.ContextBlock:
		var parts []string
		for _, el := range b.ContextElements.Elements {
			if t, ok := el.(*slackapi.TextBlockObject); ok {
				parts = append(parts, plain(t.Text))
			}
		}
		return []string{strings.Join(parts, " · ")}
	case *slackapi.ActionBlock:
		var parts []string
		if b.Elements != nil {
			for _, el := range b.Elements.ElementSet {
				if btn, ok := el.(*slackapi.ButtonBlockElement); ok && btn.Text != nil {
					parts = append(parts, "[ "+btn.Text.Text+" ] "+btn.URL)
				}
			}
		}
		return []string{strings.Join(parts, "  ")}
	case *slackapi.DividerBlock:
		return []string{strings.Repeat("─", 40)}
	default:
		return []string{fmt.Sprintf("(%s block)", b.BlockType())}
	}
}

// plain turns mrkdwn links, mentions and entities into plain text.
func plain(s string) string {
	s = angle().ReplaceAllStringFunc(s, func(tag string) string {
		parts := angle().FindStringSubmatch(tag)
		target, label := parts[1], parts[2]
		switch {
		case strings.HasPrefix(target, "!subteam^"):
			return "@" + strings.TrimPrefix(target, "!subteam^")
		case strings.HasPrefix(target, "!"):
			return "@" + strings.TrimPrefix(target, "!")
		case strings.HasPrefix(target, "@"), strings.HasPrefix(target, "#"):
			return target
		case label != "":
			return label + " (" + target + ")"
		default:
			return target
		}
	})
	return unescaper.Replace(s)
}
