package slack

import (
	"strings"
	"unicode/utf8"

	"precheckwatch/notify"
)

// markup writes Slack mrkdwn.
type markup struct{}

func (markup) Size(s string) int { return utf8.RuneCountInString(s) }

func (m markup) Text(s string) string { return m.TextUpTo(s, notify.MaxFieldRunes) }

func (markup) TextUpTo(s string, n int) string { return escape(notify.ClipRunes(notify.OneLine(s), n)) }

func (markup) Code(s string) string {
	s = notify.ClipRunes(notify.OneLine(s), notify.MaxFieldRunes)
	if s == "" {
		return "_(empty)_"
	}
	return "`" + escape(strings.ReplaceAll(s, "`", "'")) + "`"
}

func (markup) Prose(s string) string { return escape(s) }

func (markup) Bold(s string) string { return "*" + s + "*" }

func (markup) Item(s string) string { return s }

func (markup) Hint(s string) string { return "      ↳ 🔧 " + s }

func (markup) Heading(s string) string { return s }

func (markup) Br() string { return "\n" }

func (markup) Link(label, url string) string {
	return "<" + escape(url) + "|" + escape(label) + ">"
}

// escape escapes the three characters Slack mrkdwn reserves for links,
// mentions and entities.
func escape(s string) string { return escaper.Replace(s) }

var (
	escaper   = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")
	unescaper = strings.NewReplacer("&lt;", "<", "&gt;", ">", "&amp;", "&")
)
