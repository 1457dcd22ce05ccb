package dingtalk

import (
	"strings"

	"precheckwatch/notify"
)

// markup writes DingTalk's markdown subset.
type markup struct{}

func (markup) Size(s string) int { return len(s) }

func (m markup) Text(s string) string { return m.TextUpTo(s, notify.MaxFieldRunes) }

func (markup) TextUpTo(s string, n int) string {
	return escaper.Replace(notify.ClipRunes(notify.OneLine(s), n))
}

func (markup) Code(s string) string { return notify.CodeSpan(s, htmlEscaper, "*(empty)*") }

// Prose escapes HTML outside the text's code spans.
func (markup) Prose(s string) string { return notify.OutsideCode(s, htmlEscaper) }

func (markup) Bold(s string) string { return "**" + s + "**" }

func (markup) Item(s string) string { return "- " + s }

// Hint quotes the fix as a paragraph of its own: blank lines around the
// quote keep it from running into the list around it.
func (markup) Hint(s string) string { return "\n> 🔧 " + s + "\n" }

func (markup) Heading(s string) string { return "#### " + s }

// Br is markdown's hard line break: DingTalk, like markdown, may join
// lines separated by a bare newline.
func (markup) Br() string { return "  \n" }

func (markup) Link(label, url string) string {
	return "[" + escaper.Replace(label) + "](" + urlEscaper.Replace(url) + ")"
}

var (
	// escaper keeps user data from turning into markdown or HTML: emphasis,
	// links, code spans and tags. Underscores inside words are left alone,
	// since labels and ids are full of them and markdown ignores them.
	escaper = strings.NewReplacer(
		`\`, `\\`, "*", `\*`, "[", `\[`, "]", `\]`, "`", "'", "<", "&lt;", ">", "&gt;",
	)
	htmlEscaper = strings.NewReplacer("<", "&lt;", ">", "&gt;")
	// urlEscaper keeps a link target from ending the link early.
	urlEscaper = strings.NewReplacer("(", "%28", ")", "%29", " ", "%20")
)
