package preview

import (
	"html"
	"html/template"
	"strings"
	"unicode"
	"unicode/utf8"
)

// slackHTML renders Slack mrkdwn as Slack's client shows it: *bold*,
// _italic_, ~strike~, `code`, <url|label> links, mentions and line breaks
// (the page keeps whitespace, as Slack does). Every piece of text is
// HTML-escaped; only the tags written here reach the page.
func slackHTML(mrkdwn string) template.HTML {
	lines := strings.Split(mrkdwn, "\n")
	for i, line := range lines {
		lines[i] = slackLine(line)
	}
	return template.HTML(strings.Join(lines, "\n"))
}

// slackToken is a Slack link, mention or special command in angle brackets.
// Literal "<" in text is always sent as "&lt;", so any "<" opens one.
var slackToken = lazyRegexp(`<([^<>|]*)(?:\|([^<>]*))?>`)

// slackLine renders one line: code spans and angle tokens first (nothing
// inside them is formatted), then emphasis around and across them.
func slackLine(line string) string {
	var held fragments
	var b strings.Builder
	line = clearPlaceholders(line)
	for line != "" {
		code := codeSpan(line)
		token := slackToken().FindStringIndex(line)
		switch {
		case code != nil && (token == nil || code[0] < token[0]):
			b.WriteString(line[:code[0]])
			b.WriteString(held.hold("<code>" + html.EscapeString(slackUnescape(line[code[0]+1:code[1]-1])) + "</code>"))
			line = line[code[1]:]
		case token != nil:
			b.WriteString(line[:token[0]])
			parts := slackToken().FindStringSubmatch(line[token[0]:token[1]])
			b.WriteString(held.hold(slackTokenHTML(parts[1], parts[2])))
			line = line[token[1]:]
		default:
			b.WriteString(line)
			line = ""
		}
	}
	return emphasis(b.String(), []delimiter{{"*", "b"}, {"_", "i"}, {"~", "s"}}, func(text string) string {
		return held.render(text, func(s string) string { return html.EscapeString(slackUnescape(s)) })
	})
}

// codeSpan finds the first `code` span in s: a backtick, at least one
// character, a closing backtick. It returns the span's bounds, backticks
// included, or nil.
func codeSpan(s string) []int {
	for start := 0; start < len(s); {
		open := strings.IndexByte(s[start:], '`')
		if open < 0 {
			return nil
		}
		open += start
		closing := strings.IndexByte(s[open+1:], '`')
		if closing < 0 {
			return nil
		}
		closing += open + 1
		if closing > open+1 {
			return []int{open, closing + 1}
		}
		start = closing + 1 // "``" is no span, and opens none
	}
	return nil
}

// slackTokenHTML renders the inside of <target|label>.
func slackTokenHTML(target, label string) string {
	label = slackUnescape(label)
	mention := func(name string) string {
		return `<span class="mention">` + html.EscapeString(name) + `</span>`
	}
	switch {
	case strings.HasPrefix(target, "@"), strings.HasPrefix(target, "#"):
		if label != "" {
			return mention(label)
		}
		return mention(target)
	case strings.HasPrefix(target, "!subteam^"):
		if label != "" {
			return mention(label)
		}
		return mention("@" + strings.TrimPrefix(target, "!subteam^"))
	case strings.HasPrefix(target, "!date^"):
		return html.EscapeString(label)
	case strings.HasPrefix(target, "!"):
		return mention("@" + strings.TrimPrefix(target, "!"))
	}
	url := slackUnescape(target)
	if !linkable(url) {
		return html.EscapeString("<" + url + ">")
	}
	if label == "" {
		label = url
	}
	return `<a href="` + html.EscapeString(url) + `">` + html.EscapeString(label) + `</a>`
}

// linkable reports whether url is one a chat client turns into a link.
func linkable(url string) bool {
	lower := strings.ToLower(url)
	return strings.HasPrefix(lower, "https://") || strings.HasPrefix(lower, "http://") || strings.HasPrefix(lower, "mailto:")
}

// slackUnescape undoes the three entities Slack mrkdwn uses.
func slackUnescape(s string) string {
	return strings.NewReplacer("&lt;", "<", "&gt;", ">", "&amp;", "&").Replace(s)
}

// delimiter is an emphasis marker and the tag it stands for.
type delimiter struct {
	mark string
	tag  string
}

// emphasis renders text with emphasis spans, as Slack and markdown do: a
// marker opens only at the start of a word and closes only at the end of
// one, so snake_case and 2*3*4 stay as they are. It finds the first marker of delims that opens a span with a
// matching close, renders the text before it with leaf, the span's inside
// recursively, and goes on after it.
func emphasis(s string, delims []delimiter, leaf func(string) string) string {
	var b strings.Builder
	for {
		open, closing, d := -1, -1, delimiter{}
		for i := 0; i < len(s) && open < 0; i++ {
			for _, cand := range delims {
				if !strings.HasPrefix(s[i:], cand.mark) || !opens(s, i, len(cand.mark)) {
					continue
				}
				if j := closer(s, i+len(cand.mark), cand.mark); j >= 0 {
					open, closing, d = i, j, cand
					break
				}
			}
		}
		if open < 0 {
			b.WriteString(leaf(s))
			return b.String()
		}
		b.WriteString(leaf(s[:open]))
		b.WriteString("<" + d.tag + ">" + emphasis(s[open+len(d.mark):closing], delims, leaf) + "</" + d.tag + ">")
		s = s[closing+len(d.mark):]
	}
}

// opens reports whether the marker of n bytes at i can open a span: not
// inside a word, and followed by something other than a space or itself.
func opens(s string, i, n int) bool {
	if i > 0 {
		if prev, _ := utf8.DecodeLastRuneInString(s[:i]); isWord(prev) || prev == rune(s[i]) {
			return false
		}
	}
	if i+n >= len(s) {
		return false
	}
	next, _ := utf8.DecodeRuneInString(s[i+n:])
	return !unicode.IsSpace(next) && next != rune(s[i])
}

// closer finds, from start, a mark that can close a span: right after
// something other than a space, and not followed by a word character.
func closer(s string, start int, mark string) int {
	for j := start + 1; j+len(mark) <= len(s); j++ {
		if !strings.HasPrefix(s[j:], mark) {
			continue
		}
		prev, _ := utf8.DecodeLastRuneInString(s[:j])
		if unicode.IsSpace(prev) {
			continue
		}
		if end := j + len(mark); end < len(s) {
			if next, _ := utf8.DecodeRuneInString(s[end:]); isWord(next) || next == rune(mark[0]) {
				continue
			}
		}
		return j
	}
	return -1
}

func isWord(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }

// fragments are pieces of finished HTML (code spans, links, mentions) that
// stand in the text as single placeholder runes while emphasis is
// resolved, so a span can hold them, and nothing inside them is
// formatted.
type fragments []string

// placeholderBase is the first placeholder rune, in Supplementary
// Private Use Area-B, which no chat text has a use for.
const placeholderBase = 0x100000

// hold keeps fragment and returns its placeholder.
func (f *fragments) hold(fragment string) string {
	*f = append(*f, fragment)
	return string(rune(placeholderBase + len(*f) - 1))
}

// render writes text as HTML: placeholders become their fragments, the
// rest goes through escape.
func (f fragments) render(text string, escape func(string) string) string {
	var b strings.Builder
	start := 0
	for i, r := range text {
		if n := int(r) - placeholderBase; n >= 0 && n < len(f) {
			b.WriteString(escape(text[start:i]))
			b.WriteString(f[n])
			start = i + utf8.RuneLen(r)
		}
	}
	b.WriteString(escape(text[start:]))
	return b.String()
}

// clearPlaceholders replaces any placeholder rune already in s, so user
// data cannot pose as a fragment.
func clearPlaceholders(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= placeholderBase && r <= 0x10FFFF {
			return unicode.ReplacementChar
		}
		return r
	}, s)
}
