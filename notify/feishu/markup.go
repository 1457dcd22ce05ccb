package feishu

import (
	"strings"

	"precheckwatch/notify"
)

// markup writes the markdown of a Feishu card's markdown element.
type markup struct {
	// nested counts sizes for a card that travels as a JSON string inside
	// the request, as an app bot's does: escaped twice.
	nested bool
}

// Size is the text's length in the JSON body, which Feishu limits: bytes,
// with the characters JSON escapes counted as escaped, once or twice.
func (m markup) Size(s string) int {
	if m.nested {
		return nestedJSONLen(s)
	}
	return jsonLen(s)
}

func (m markup) Text(s string) string { return m.TextUpTo(s, notify.MaxFieldRunes) }

func (markup) TextUpTo(s string, n int) string {
	return escaper.Replace(notify.ClipRunes(notify.OneLine(s), n))
}

func (markup) Code(s string) string { return notify.CodeSpan(s, htmlEscaper, "*(empty)*") }

// Prose escapes HTML outside the text's code spans.
func (markup) Prose(s string) string { return notify.OutsideCode(s, htmlEscaper) }

func (markup) Bold(s string) string { return "**" + s + "**" }

// Item starts a line with a bullet of its own rather than markdown's "- ",
// which not every Feishu client renders as a list.
func (markup) Item(s string) string { return "• " + s }

func (markup) Hint(s string) string { return "　↳ 🔧 " + s }

func (markup) Heading(s string) string { return s }

func (markup) Br() string { return "\n" }

func (markup) Link(label, url string) string {
	return "[" + escaper.Replace(label) + "](" + urlEscaper.Replace(url) + ")"
}

var (
	// escaper keeps user data from turning into markdown, HTML or a
	// mention: emphasis, strike-through, links, code spans and tags.
	escaper = strings.NewReplacer(
		`\`, `\\`, "*", `\*`, "~", `\~`, "[", `\[`, "]", `\]`, "`", "'", "<", "&lt;", ">", "&gt;",
	)
	htmlEscaper = strings.NewReplacer("<", "&lt;", ">", "&gt;")
	urlEscaper  = strings.NewReplacer("(", "%28", ")", "%29", " ", "%20")
)

// nestedJSONLen is the length of s as the content of a JSON string held in
// another JSON string: '"' and '\\' become four bytes, a newline three.
func nestedJSONLen(s string) int {
	n := len(s)
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			n += 3
		case c == '\n' || c == '\r' || c == '\t':
			n += 2
		case c < 0x20:
			n += 6
		}
	}
	return n
}

// jsonLen is the length of s as a JSON string's content, HTML left
// unescaped.
func jsonLen(s string) int {
	n := len(s)
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\' || c == '\n' || c == '\r' || c == '\t':
			n++
		case c < 0x20:
			n += 5
		}
	}
	return n
}
