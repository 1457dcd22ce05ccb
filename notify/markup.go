package notify

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Markup writes the shared content in one channel's markup language, so the
// content of a message is decided once and every channel says the same.
type Markup interface {
	// Size measures text as the channel limits it: characters or bytes.
	Size(s string) int
	// Text is user data as literal text on one line, clipped to
	// MaxFieldRunes.
	Text(s string) string
	// TextUpTo is Text clipped to n characters instead.
	TextUpTo(s string, n int) string
	// Code is user data as an inline code span.
	Code(s string) string
	// Prose is our own catalogue text, which holds `code` spans.
	Prose(s string) string
	// Bold emphasises text that is already markup.
	Bold(s string) string
	// Item is one line of a list.
	Item(s string) string
	// Hint hangs a fix hint under the item before it.
	Hint(s string) string
	// Heading introduces one instance or task.
	Heading(s string) string
	// Link is a link with a label.
	Link(label, url string) string
	// Br breaks a line within a paragraph.
	Br() string
}

// MaxFieldRunes clips any single piece of user data (label, instance id,
// raw result): beyond it a value is noise that would crowd out the rest.
const MaxFieldRunes = 256

// OneLine folds line breaks and other control characters into spaces,
// replaces invalid UTF-8 and trims, so user data cannot break the layout
// around it.
func OneLine(s string) string {
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

// ClipRunes cuts s to at most n characters, marking the cut with "…".
func ClipRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// CodeSpan is user data as a markdown code span, with escape applied
// inside (backticks, which would end it, become quotes); empty is shown
// for nothing.
func CodeSpan(s string, escape *strings.Replacer, empty string) string {
	s = ClipRunes(OneLine(s), MaxFieldRunes)
	if s == "" {
		return empty
	}
	return "`" + escape.Replace(strings.ReplaceAll(s, "`", "'")) + "`"
}

// OutsideCode applies escape to the text outside s's code spans; inside
// them markdown shows characters as they are.
func OutsideCode(s string, escape *strings.Replacer) string {
	parts := strings.Split(s, "`")
	for i := 0; i < len(parts); i += 2 {
		parts[i] = escape.Replace(parts[i])
	}
	return strings.Join(parts, "`")
}
