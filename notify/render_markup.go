package notify

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// markup writes the shared content in one channel's markup language, so the
// content of a message is decided once and both channels say the same.
type markup interface {
	// size measures text as the channel limits it: Slack counts
	// characters, DingTalk bytes.
	size(s string) int
	// text is user data as literal text on one line, clipped to
	// maxFieldRunes.
	text(s string) string
	// textUpTo is text clipped to n characters instead.
	textUpTo(s string, n int) string
	// code is user data as an inline code span.
	code(s string) string
	// prose is our own catalogue text, which holds `code` spans.
	prose(s string) string
	// bold emphasises text that is already markup.
	bold(s string) string
	// item is one line of a list.
	item(s string) string
	// hint hangs a fix hint under the item before it.
	hint(s string) string
	// heading introduces one instance or task.
	heading(s string) string
	// link is a link with a label.
	link(label, url string) string
	// br breaks a line within a paragraph.
	br() string
}

// maxFieldRunes clips any single piece of user data (label, instance id,
// raw result): beyond it a value is noise that would crowd out the rest.
const maxFieldRunes = 256

// slackMarkup writes Slack mrkdwn.
type slackMarkup struct{}

func (slackMarkup) size(s string) int { return utf8.RuneCountInString(s) }

func (m slackMarkup) text(s string) string { return m.textUpTo(s, maxFieldRunes) }

func (slackMarkup) textUpTo(s string, n int) string { return escapeSlack(clipRunes(oneLine(s), n)) }

func (slackMarkup) code(s string) string {
	s = clipRunes(oneLine(s), maxFieldRunes)
	if s == "" {
		return "_(empty)_"
	}
	return "`" + escapeSlack(strings.ReplaceAll(s, "`", "'")) + "`"
}

func (slackMarkup) prose(s string) string { return escapeSlack(s) }

func (slackMarkup) bold(s string) string { return "*" + s + "*" }

func (slackMarkup) item(s string) string { return s }

func (slackMarkup) hint(s string) string { return "      ↳ 🔧 " + s }

func (slackMarkup) heading(s string) string { return s }

func (slackMarkup) br() string { return "\n" }

func (slackMarkup) link(label, url string) string {
	return "<" + escapeSlack(url) + "|" + escapeSlack(label) + ">"
}

// escapeSlack escapes the three characters Slack mrkdwn reserves for links,
// mentions and entities.
func escapeSlack(s string) string {
	return slackEscaper.Replace(s)
}

var slackEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

// dingTalkMarkup writes DingTalk's markdown subset.
type dingTalkMarkup struct{}

func (dingTalkMarkup) size(s string) int { return len(s) }

func (m dingTalkMarkup) text(s string) string { return m.textUpTo(s, maxFieldRunes) }

func (dingTalkMarkup) textUpTo(s string, n int) string {
	return dingTalkEscaper.Replace(clipRunes(oneLine(s), n))
}

func (dingTalkMarkup) code(s string) string {
	s = clipRunes(oneLine(s), maxFieldRunes)
	if s == "" {
		return "*(empty)*"
	}
	return "`" + dingTalkHTMLEscaper.Replace(strings.ReplaceAll(s, "`", "'")) + "`"
}

// prose escapes HTML outside the text's code spans; inside them markdown
// shows characters as they are.
func (dingTalkMarkup) prose(s string) string {
	parts := strings.Split(s, "`")
	for i := 0; i < len(parts); i += 2 {
		parts[i] = dingTalkHTMLEscaper.Replace(parts[i])
	}
	return strings.Join(parts, "`")
}

func (dingTalkMarkup) bold(s string) string { return "**" + s + "**" }

func (dingTalkMarkup) item(s string) string { return "- " + s }

// hint quotes the fix as a paragraph of its own: blank lines around the
// quote keep it from running into the list around it.
func (dingTalkMarkup) hint(s string) string { return "\n> 🔧 " + s + "\n" }

func (dingTalkMarkup) heading(s string) string { return "#### " + s }

// br is markdown's hard line break: DingTalk, like markdown, may join
// lines separated by a bare newline.
func (dingTalkMarkup) br() string { return "  \n" }

func (dingTalkMarkup) link(label, url string) string {
	return "[" + dingTalkEscaper.Replace(label) + "](" + strings.NewReplacer("(", "%28", ")", "%29", " ", "%20").Replace(url) + ")"
}

// dingTalkEscaper keeps user data from turning into markdown or HTML:
// emphasis, links, code spans and tags. Underscores inside words are left
// alone, since labels and ids are full of them and markdown ignores them.
var dingTalkEscaper = strings.NewReplacer(
	`\`, `\\`, "*", `\*`, "[", `\[`, "]", `\]`, "`", "'", "<", "&lt;", ">", "&gt;",
)

var dingTalkHTMLEscaper = strings.NewReplacer("<", "&lt;", ">", "&gt;")

// oneLine folds line breaks and other control characters into spaces,
// replaces invalid UTF-8 and trims, so user data cannot break the layout around it.
func oneLine(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if !strings.ContainsFunc(s, unicode.IsControl) {
		return strings.TrimSpace(s)
	}
	return strings.TrimSpace(strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s))
}

// clipRunes cuts s to at most n characters, marking the cut with "…".
func clipRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}
