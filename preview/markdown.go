package preview

import (
	"html"
	"html/template"
	"strings"
)

// dingTalkHTML renders DingTalk markdown as the DingTalk client shows it:
// headings, paragraphs, lists, quotes, rules, **bold**, *italic*, `code`,
// [label](url) links and hard line breaks (two spaces before a newline; a
// bare newline joins lines, as in markdown). Names in mentions are
// highlighted where the text says @name. DingTalk passes HTML entities
// through to its page, so they show as the characters they stand for; all
// text is HTML-escaped here.
func dingTalkHTML(markdown string, mentions []string) template.HTML {
	r := mdRenderer{mentions: mentions}
	r.blocks(strings.Split(strings.ReplaceAll(markdown, "\r\n", "\n"), "\n"))
	return template.HTML(r.out.String())
}

// mdRenderer turns markdown lines into HTML blocks.
type mdRenderer struct {
	mentions []string
	out      strings.Builder
}

var (
	mdHeading = lazyRegexp(`^ {0,3}(#{1,6})(?:[ \t]+(.*?))?[ \t#]*$`)
	mdRule    = lazyRegexp(`^ {0,3}(?:(?:-[ \t]*){3,}|(?:\*[ \t]*){3,}|(?:_[ \t]*){3,})$`)
	mdBullet  = lazyRegexp(`^ {0,3}[-*+][ \t]+`)
	mdOrdered = lazyRegexp(`^ {0,3}[0-9]{1,9}[.)][ \t]+`)
	mdQuote   = lazyRegexp(`^ {0,3}> ?`)
)

// blocks renders a run of lines: each block starts where the one before
// it ends, at a blank line or a line that starts a block of another kind.
func (r *mdRenderer) blocks(lines []string) {
	for i := 0; i < len(lines); {
		line := lines[i]
		switch {
		case strings.TrimSpace(line) == "":
			i++
		case mdRule().MatchString(line):
			r.out.WriteString("<hr>\n")
			i++
		case mdHeading().MatchString(line):
			m := mdHeading().FindStringSubmatch(line)
			tag := "h" + string(rune('0'+len(m[1])))
			r.out.WriteString("<" + tag + ">" + r.inline(m[2]) + "</" + tag + ">\n")
			i++
		case mdQuote().MatchString(line):
			var inner []string
			for ; i < len(lines) && (mdQuote().MatchString(lines[i]) || !r.startsBlock(lines[i])); i++ {
				inner = append(inner, mdQuote().ReplaceAllString(lines[i], ""))
			}
			r.out.WriteString("<blockquote>\n")
			r.blocks(inner)
			r.out.WriteString("</blockquote>\n")
		case mdBullet().MatchString(line), mdOrdered().MatchString(line):
			i = r.list(lines, i)
		default:
			var para []string
			for ; i < len(lines) && !r.startsBlock(lines[i]); i++ {
				para = append(para, lines[i])
			}
			r.out.WriteString("<p>" + r.paragraph(para) + "</p>\n")
		}
	}
}

// startsBlock reports whether line ends the paragraph before it.
func (r *mdRenderer) startsBlock(line string) bool {
	return strings.TrimSpace(line) == "" || mdRule().MatchString(line) || mdHeading().MatchString(line) ||
		mdQuote().MatchString(line) || mdBullet().MatchString(line) || mdOrdered().MatchString(line)
}

// list renders the list that starts at lines[i], one kind of marker, and
// returns where it ends. An item's following plain lines continue it.
func (r *mdRenderer) list(lines []string, i int) int {
	marker, tag := mdBullet(), "ul"
	if mdOrdered().MatchString(lines[i]) {
		marker, tag = mdOrdered(), "ol"
	}
	r.out.WriteString("<" + tag + ">\n")
	for i < len(lines) && marker.MatchString(lines[i]) {
		item := []string{marker.ReplaceAllString(lines[i], "")}
		for i++; i < len(lines) && !r.startsBlock(lines[i]); i++ {
			item = append(item, lines[i])
		}
		r.out.WriteString("<li>" + r.paragraph(item) + "</li>\n")
	}
	r.out.WriteString("</" + tag + ">\n")
	return i
}

// paragraph joins lines: two trailing spaces make a hard break, anything
// else a soft one, which the page shows as a space.
func (r *mdRenderer) paragraph(lines []string) string {
	var b strings.Builder
	for i, line := range lines {
		line = strings.TrimLeft(line, " \t")
		last := i == len(lines)-1
		hard := !last && strings.HasSuffix(line, "  ")
		b.WriteString(r.inline(strings.TrimRight(line, " \t")))
		switch {
		case hard:
			b.WriteString("<br>\n")
		case !last:
			b.WriteString("\n")
		}
	}
	return b.String()
}

var (
	mdLink   = lazyRegexp(`\[((?:[^\[\]\\]|\\.)*)\]\(([^()\s]*)\)`)
	mdEscape = lazyRegexp("\\\\[!-/:-@\\[-`{-~]")
)

// inline renders one line's text: escapes and code spans first, then
// links, then emphasis around and across them.
func (r *mdRenderer) inline(s string) string {
	var held fragments
	s = clearPlaceholders(s)
	var b strings.Builder
	for s != "" {
		code := codeSpan(s)
		esc := mdEscape().FindStringIndex(s)
		switch {
		case esc != nil && (code == nil || esc[0] < code[0]):
			b.WriteString(s[:esc[0]])
			b.WriteString(held.hold(html.EscapeString(s[esc[0]+1 : esc[1]])))
			s = s[esc[1]:]
		case code != nil:
			b.WriteString(s[:code[0]])
			b.WriteString(held.hold("<code>" + html.EscapeString(html.UnescapeString(s[code[0]+1:code[1]-1])) + "</code>"))
			s = s[code[1]:]
		default:
			b.WriteString(s)
			s = ""
		}
	}
	text := mdLink().ReplaceAllStringFunc(b.String(), func(link string) string {
		m := mdLink().FindStringSubmatch(link)
		label := r.emphasis(m[1], held)
		if !linkable(m[2]) {
			return held.hold(html.EscapeString("[") + label + html.EscapeString("]("+m[2]+")"))
		}
		return held.hold(`<a href="` + html.EscapeString(m[2]) + `">` + label + `</a>`)
	})
	return r.emphasis(text, held)
}

// emphasis renders **bold**, *italic* and _italic_ in text whose code
// spans, escapes and links are held as placeholders.
func (r *mdRenderer) emphasis(text string, held fragments) string {
	return emphasis(text, []delimiter{{"**", "b"}, {"__", "b"}, {"*", "i"}, {"_", "i"}}, func(s string) string {
		return held.render(s, r.plain)
	})
}

// plain escapes text, marking the @mentions DingTalk highlights.
func (r *mdRenderer) plain(s string) string {
	s = html.UnescapeString(s)
	var b strings.Builder
	for s != "" {
		at, name := -1, ""
		for _, m := range r.mentions {
			if m == "" {
				continue
			}
			if i := strings.Index(s, "@"+m); i >= 0 && (at < 0 || i < at) {
				at, name = i, m
			}
		}
		if at < 0 {
			b.WriteString(html.EscapeString(s))
			break
		}
		b.WriteString(html.EscapeString(s[:at]))
		b.WriteString(`<span class="mention">@` + html.EscapeString(name) + `</span>`)
		s = s[at+1+len(name):]
	}
	return b.String()
}
