package notify

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/slack-go/slack"
)

// Slack Block Kit limits the renderer keeps (docs.slack.dev block
// reference). Slack answers invalid_blocks or msg_blocks_too_long past them;
// the renderer degrades the message instead.
const (
	// SlackMaxBlocks is the most blocks in a message; body and attachment
	// blocks are counted together, to be safe.
	SlackMaxBlocks = 50
	// SlackMaxSectionText is the most characters of a section's text.
	SlackMaxSectionText = 3000
	// SlackMaxHeaderText is the most characters of a header.
	SlackMaxHeaderText = 150
	// SlackMaxBlockText is the most characters of text in all blocks
	// together. Slack documents no such limit, but answers
	// msg_blocks_too_long near 13,000 (slackapi/bolt-js#2509).
	SlackMaxBlockText = 12000
	// SlackMaxText is the most characters of the fallback text.
	SlackMaxText = 40000

	slackMaxFields          = 10
	slackMaxFieldText       = 2000
	slackMaxContextElements = 10
	slackMaxActionElements  = 25
	slackMaxButtonText      = 75
	slackMaxButtonURL       = 3000
	slackMaxBlockID         = 255
)

// slackNoteReserve is room kept for the "…and N more" section.
const slackNoteReserve = 400

// slack renders a verdict as a Slack message: header and summary in the
// body, instances, facts and console link beside the verdict's colour bar.
func (v verdictView) slack(opts RenderOptions) SlackContent {
	m := slackMarkup{}
	console := opts.console()
	alert := alerting(v.out.Verdict)
	summary := v.summary(m)
	text := m.text(v.fallback())
	if alert && opts.SlackMention != "" {
		summary = opts.SlackMention + " " + summary
		text = opts.SlackMention + " " + text
	}
	body := []slack.Block{
		headerBlock(badge(v.out.Verdict) + " · " + v.subject),
		sectionBlock(clipRunes(summary, SlackMaxSectionText)),
	}
	tail := []slack.Block{
		contextBlock(v.facts(m)),
		buttonBlock("Open the Security Center console", console),
	}
	b := slackBudget(slicesConcat(body, tail), 1)
	sections, shown := fit(m, len(v.instances), func(i int, compact bool, hints map[string]bool) chunk {
		if compact {
			return instanceChunk(m, v.instances[i], passedAsCodes, hints, SlackMaxSectionText)
		}
		return instanceChunk(m, v.instances[i], allItems, hints, 0)
	}, b)
	var detail []slack.Block
	for _, s := range sections {
		detail = append(detail, sectionBlock(s))
	}
	if shown < len(v.instances) {
		detail = append(detail, sectionBlock(moreInstances(m, v.instances[shown:], console)))
	}
	return SlackContent{
		Text:   clipRunes(text, SlackMaxText),
		Blocks: body,
		Color:  colorOf(v.out.Verdict),
		Detail: append(detail, tail...),
	}
}

// slackBudget is what is left for sections once the fixed blocks are in,
// keeping notes more blocks and room for a note.
func slackBudget(fixed []slack.Block, notes int) budget {
	return budget{
		sectionMax: SlackMaxSectionText,
		sections:   SlackMaxBlocks - len(fixed) - notes,
		total:      SlackMaxBlockText - slackBlockText(fixed) - notes*slackNoteReserve,
	}
}

func slicesConcat(a, b []slack.Block) []slack.Block {
	return append(append([]slack.Block(nil), a...), b...)
}

func headerBlock(text string) slack.Block {
	return slack.NewHeaderBlock(slack.NewTextBlockObject(slack.PlainTextType, clipRunes(oneLine(text), SlackMaxHeaderText), true, false))
}

func sectionBlock(mrkdwn string) slack.Block {
	return slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, mrkdwn, false, false), nil, nil)
}

func contextBlock(mrkdwn string) slack.Block {
	return slack.NewContextBlock("", slack.NewTextBlockObject(slack.MarkdownType, clipRunes(mrkdwn, SlackMaxSectionText), false, false))
}

func buttonBlock(label, url string) slack.Block {
	button := slack.NewButtonBlockElement("", "", slack.NewTextBlockObject(slack.PlainTextType, label, true, false)).WithURL(url)
	return slack.NewActionBlock("", button)
}

// CheckSlackLimits reports every way c breaks Slack's message limits: block
// count, text lengths per block and in all, element counts, block ids, and
// a Detail that would be dropped for want of a Color. It knows the block
// types the renderer uses (header, section, context, actions, divider) and
// reports any other as unchecked.
func CheckSlackLimits(c SlackContent) error {
	var errs []error
	fail := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	switch n := utf8.RuneCountInString(c.Text); {
	case strings.TrimSpace(c.Text) == "":
		fail("fallback text is empty")
	case n > SlackMaxText:
		fail("fallback text has %d characters, over %d", n, SlackMaxText)
	}
	if n := len(c.Blocks) + len(c.Detail); n > SlackMaxBlocks {
		fail("%d blocks (%d body + %d attachment), over %d", n, len(c.Blocks), len(c.Detail), SlackMaxBlocks)
	}
	if len(c.Detail) > 0 && c.Color == "" {
		fail("attachment blocks without a colour are never sent")
	}
	if c.Color != "" && !validSlackColor(c.Color) {
		fail("colour %q is not good, warning, danger or #RRGGBB", c.Color)
	}
	if n := slackBlockText(c.Blocks) + slackBlockText(c.Detail); n > SlackMaxBlockText {
		fail("%d characters of block text, over %d", n, SlackMaxBlockText)
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
			if len(id) > slackMaxBlockID {
				fail("block %d: block_id has %d characters, over %d", i, len(id), slackMaxBlockID)
			}
		}
		for _, err := range checkSlackBlock(b) {
			fail("block %d (%s): %w", i, b.BlockType(), err)
		}
	}
	return errors.Join(errs...)
}

func checkSlackBlock(b slack.Block) []error {
	var errs []error
	text := func(what string, t *slack.TextBlockObject, max int) {
		switch {
		case t == nil || t.Text == "":
			errs = append(errs, fmt.Errorf("%s is empty", what))
		case t.Type != slack.PlainTextType && t.Type != slack.MarkdownType:
			errs = append(errs, fmt.Errorf("%s has type %q", what, t.Type))
		case utf8.RuneCountInString(t.Text) > max:
			errs = append(errs, fmt.Errorf("%s has %d characters, over %d", what, utf8.RuneCountInString(t.Text), max))
		}
	}
	switch b := b.(type) {
	case *slack.HeaderBlock:
		text("header text", b.Text, SlackMaxHeaderText)
		if b.Text != nil && b.Text.Type != slack.PlainTextType {
			errs = append(errs, errors.New("header text must be plain_text"))
		}
	case *slack.SectionBlock:
		if b.Text == nil && len(b.Fields) == 0 {
			errs = append(errs, errors.New("section has neither text nor fields"))
		}
		if b.Text != nil {
			text("section text", b.Text, SlackMaxSectionText)
		}
		if len(b.Fields) > slackMaxFields {
			errs = append(errs, fmt.Errorf("%d fields, over %d", len(b.Fields), slackMaxFields))
		}
		for i, f := range b.Fields {
			text(fmt.Sprintf("field %d", i), f, slackMaxFieldText)
		}
	case *slack.ContextBlock:
		els := b.ContextElements.Elements
		if len(els) == 0 || len(els) > slackMaxContextElements {
			errs = append(errs, fmt.Errorf("%d elements, want 1 to %d", len(els), slackMaxContextElements))
		}
		for i, el := range els {
			if t, ok := el.(*slack.TextBlockObject); ok {
				text(fmt.Sprintf("element %d", i), t, SlackMaxSectionText)
			}
		}
	case *slack.ActionBlock:
		var els []slack.BlockElement
		if b.Elements != nil {
			els = b.Elements.ElementSet
		}
		if len(els) == 0 || len(els) > slackMaxActionElements {
			errs = append(errs, fmt.Errorf("%d elements, want 1 to %d", len(els), slackMaxActionElements))
		}
		for i, el := range els {
			if btn, ok := el.(*slack.ButtonBlockElement); ok {
				text(fmt.Sprintf("button %d", i), btn.Text, slackMaxButtonText)
				if len(btn.URL) > slackMaxButtonURL {
					errs = append(errs, fmt.Errorf("button %d url has %d characters, over %d", i, len(btn.URL), slackMaxButtonURL))
				}
			}
		}
	case *slack.DividerBlock:
	default:
		errs = append(errs, fmt.Errorf("block type %T is not one the limits are checked for", b))
	}
	return errs
}

var slackColor = regexp.MustCompile(`^#[0-9A-Fa-f]{6}$`)

func validSlackColor(c string) bool {
	return c == "good" || c == "warning" || c == "danger" || slackColor.MatchString(c)
}

// slackBlockText counts the characters of text in blocks, as Slack counts
// toward msg_blocks_too_long: headers, sections and their fields, context
// text and button labels.
func slackBlockText(blocks []slack.Block) int {
	n := 0
	count := func(t *slack.TextBlockObject) {
		if t != nil {
			n += utf8.RuneCountInString(t.Text)
		}
	}
	for _, b := range blocks {
		switch b := b.(type) {
		case *slack.HeaderBlock:
			count(b.Text)
		case *slack.SectionBlock:
			count(b.Text)
			for _, f := range b.Fields {
				count(f)
			}
		case *slack.ContextBlock:
			for _, el := range b.ContextElements.Elements {
				if t, ok := el.(*slack.TextBlockObject); ok {
					count(t)
				}
			}
		case *slack.ActionBlock:
			if b.Elements != nil {
				for _, el := range b.Elements.ElementSet {
					if btn, ok := el.(*slack.ButtonBlockElement); ok {
						count(btn.Text)
					}
				}
			}
		}
	}
	return n
}

// SlackText renders a Slack message as plain lines for a terminal: the
// body, then the attachment behind a bar in its colour's name; links,
// mentions and entities become readable text.
func SlackText(c SlackContent) string {
	var b strings.Builder
	if len(c.Blocks) == 0 && len(c.Detail) == 0 {
		b.WriteString(plainSlack(c.Text) + "\n")
	}
	for _, blk := range c.Blocks {
		for _, line := range slackBlockLines(blk) {
			b.WriteString(line + "\n")
		}
	}
	if len(c.Detail) > 0 {
		fmt.Fprintf(&b, "┃ (%s)\n", c.Color)
		for _, blk := range c.Detail {
			for _, line := range slackBlockLines(blk) {
				b.WriteString(strings.TrimRight("┃ "+line, " ") + "\n")
			}
		}
	}
	return b.String()
}

func slackBlockLines(b slack.Block) []string {
	switch b := b.(type) {
	case *slack.HeaderBlock:
		if b.Text == nil {
			return nil
		}
		return []string{b.Text.Text, strings.Repeat("═", min(utf8.RuneCountInString(b.Text.Text), 60))}
	case *slack.SectionBlock:
		var lines []string
		if b.Text != nil {
			lines = append(lines, strings.Split(plainSlack(b.Text.Text), "\n")...)
		}
		for _, f := range b.Fields {
			lines = append(lines, strings.Split(plainSlack(f.Text), "\n")...)
		}
		return append(lines, "")
	case *slack.ContextBlock:
		var parts []string
		for _, el := range b.ContextElements.Elements {
			if t, ok := el.(*slack.TextBlockObject); ok {
				parts = append(parts, plainSlack(t.Text))
			}
		}
		return []string{strings.Join(parts, " · ")}
	case *slack.ActionBlock:
		var parts []string
		if b.Elements != nil {
			for _, el := range b.Elements.ElementSet {
				if btn, ok := el.(*slack.ButtonBlockElement); ok && btn.Text != nil {
					parts = append(parts, "[ "+btn.Text.Text+" ] "+btn.URL)
				}
			}
		}
		return []string{strings.Join(parts, "  ")}
	case *slack.DividerBlock:
		return []string{strings.Repeat("─", 40)}
	default:
		return []string{fmt.Sprintf("(%s block)", b.BlockType())}
	}
}

var slackAngle = regexp.MustCompile(`<([^<>|]*)(?:\|([^<>]*))?>`)

// plainSlack turns mrkdwn links, mentions and entities into plain text.
func plainSlack(s string) string {
	s = slackAngle.ReplaceAllStringFunc(s, func(tag string) string {
		parts := slackAngle.FindStringSubmatch(tag)
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
	return strings.NewReplacer("&lt;", "<", "&gt;", ">", "&amp;", "&").Replace(s)
}
