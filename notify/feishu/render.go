package feishu

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"precheckwatch/notify"
	"precheckwatch/precheck"
)

// MaxBodyBytes is the most bytes of a request body: Feishu's custom bot
// takes "20 KB".
const MaxBodyBytes = 20 << 10

// signReserve is room kept in the body for the timestamp and sign fields.
const signReserve = 100

// noteReserve is room kept for the "…and N more" line.
const noteReserve = 400

// maxTitle is the most characters of a card's title (chosen: a chat list
// shows far fewer).
const maxTitle = 100

// Content is a Feishu interactive card: a coloured header, a markdown body,
// a note in small print and a button. For a mention to notify, the body
// also holds "<at id=…></at>" for each.
type Content struct {
	// Title is the header, plain text; what the chat list shows.
	Title string `json:"title"`
	// Template is the header's colour: green, orange, red, blue, …
	Template string `json:"template"`
	// Body is the card's markdown.
	Body string `json:"body"`
	// Note is small print under the body; "" for none.
	Note string `json:"note,omitempty"`
	// Button and URL are the console button.
	Button string `json:"button"`
	URL    string `json:"url"`
	// Mentions are the user ids (ou_…) the card @-mentions.
	Mentions []string `json:"mentions,omitempty"`
}

// Plain is the card as plain lines: title, body, note and button.
func (c Content) Plain() string {
	var b strings.Builder
	b.WriteString(c.Title + "\n" + strings.Repeat("═", min(utf8.RuneCountInString(c.Title), 60)) + "\n")
	b.WriteString(c.Body + "\n")
	if c.Note != "" {
		b.WriteString("\n" + c.Note + "\n")
	}
	b.WriteString("\n[ " + c.Button + " ] " + c.URL + "\n")
	return b.String()
}

// Check reports every way c breaks what Feishu takes and the renderer
// promises: a title and a body, valid UTF-8, the body within MaxBodyBytes
// once signed, and every mention written in the body.
func (c Content) Check() error {
	var errs []error
	fail := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if strings.TrimSpace(c.Title) == "" {
		fail("title is empty")
	}
	if n := utf8.RuneCountInString(c.Title); n > maxTitle {
		fail("title has %d characters, over %d", n, maxTitle)
	}
	if strings.TrimSpace(c.Body) == "" {
		fail("body is empty")
	}
	for _, s := range []string{c.Title, c.Body, c.Note, c.Button} {
		if !utf8.ValidString(s) {
			fail("text is not valid UTF-8")
			break
		}
	}
	if raw, err := c.wire("", ""); err != nil {
		fail("cannot encode: %v", err)
	} else if n := len(raw) + signReserve; n > MaxBodyBytes {
		fail("body has %d bytes once signed, over %d", n, MaxBodyBytes)
	}
	for _, id := range c.Mentions {
		if !strings.Contains(c.Body, atTag(id)) {
			fail("mention %q is not written in the body, so it does not notify", id)
		}
	}
	return errors.Join(errs...)
}

// The request body of an interactive card (card JSON 1.0).
type (
	wireBody struct {
		Timestamp string   `json:"timestamp,omitempty"`
		Sign      string   `json:"sign,omitempty"`
		MsgType   string   `json:"msg_type"`
		Card      wireCard `json:"card"`
	}
	wireCard struct {
		Config struct {
			WideScreenMode bool `json:"wide_screen_mode"`
		} `json:"config"`
		Header struct {
			Template string   `json:"template"`
			Title    wireText `json:"title"`
		} `json:"header"`
		Elements []wireElement `json:"elements"`
	}
	wireText struct {
		Tag     string `json:"tag"`
		Content string `json:"content"`
	}
	wireElement struct {
		Tag      string       `json:"tag"`
		Content  string       `json:"content,omitempty"`
		Elements []wireText   `json:"elements,omitempty"`
		Actions  []wireButton `json:"actions,omitempty"`
	}
	wireButton struct {
		Tag  string   `json:"tag"`
		Text wireText `json:"text"`
		Type string   `json:"type"`
		URL  string   `json:"url"`
	}
)

// wire is the request body of c, signed with timestamp and sign when set.
func (c Content) wire(timestamp, sign string) ([]byte, error) {
	body := wireBody{Timestamp: timestamp, Sign: sign, MsgType: "interactive"}
	body.Card.Config.WideScreenMode = true
	body.Card.Header.Template = c.Template
	body.Card.Header.Title = wireText{Tag: "plain_text", Content: c.Title}
	body.Card.Elements = []wireElement{{Tag: "markdown", Content: c.Body}}
	if c.Note != "" {
		body.Card.Elements = append(body.Card.Elements, wireElement{Tag: "hr"},
			wireElement{Tag: "note", Elements: []wireText{{Tag: "lark_md", Content: c.Note}}})
	}
	body.Card.Elements = append(body.Card.Elements, wireElement{Tag: "action", Actions: []wireButton{
		{Tag: "button", Text: wireText{Tag: "plain_text", Content: c.Button}, Type: "default", URL: c.URL},
	}})
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(body); err != nil {
		return nil, err
	}
	return bytes.TrimRight(b.Bytes(), "\n"), nil
}

// Renderer renders messages as Feishu interactive cards.
type Renderer struct {
	// AtUserIDs are @-mentioned when a verdict is not PASSED
	// (FEISHU_AT_USER_IDS).
	AtUserIDs []string
	// Lang is the language of the messages (FEISHU_LANG, MESSAGE_LANG).
	Lang notify.Lang
}

func message(c Content) notify.Message { return notify.Message{Content: c} }

// withConsole is c with the button to Security Center's console.
func (r Renderer) withConsole(c Content) Content {
	c.Button, c.URL = r.Lang.Console(), notify.DefaultConsoleURL
	return c
}

// Verdict renders a verdict: the verdict and subject in the header, the
// summary and instances in the body, the facts in the note.
func (r Renderer) Verdict(t precheck.Task, o precheck.Outcome) notify.Message {
	m := markup{}
	v := notify.NewVerdict(t, o, r.Lang)
	c := r.withConsole(Content{
		Title:    notify.ClipRunes(v.Title(), maxTitle),
		Template: templateOf(v.Verdict()),
		Note:     v.Facts(m),
	})
	head, foot := v.Summary(m), ""
	if steps := v.NextSteps(m); steps != "" {
		head += paragraph + steps
	}
	if v.Alerting() {
		foot = r.mention(&c)
	}
	sections, more := v.Instances(m, room(c, head, foot))
	c.Body = layout(head, sections, more, foot)
	return message(c)
}

// Digest renders digest pages.
func (r Renderer) Digest(items []notify.Finished) []notify.DigestPage {
	return notify.Pages(items, r.Lang, r.digest)
}

func (r Renderer) digest(d notify.Digest) (notify.Message, int) {
	m := markup{}
	c := r.withConsole(Content{Title: notify.ClipRunes(d.Title(), maxTitle), Template: templateOf(d.Worst())})
	head, foot := d.Tally(), ""
	if d.Alerting() {
		foot = r.mention(&c)
	}
	sections, shown, more := d.Tasks(m, room(c, head, foot))
	c.Body = layout(head, sections, more, foot)
	return message(c), shown
}

// Started renders the running notice.
func (r Renderer) Started(t precheck.Task) notify.Message {
	m := markup{}
	s := notify.NewStarted(t, r.Lang)
	return message(r.withConsole(Content{
		Title:    notify.ClipRunes(s.Title(), maxTitle),
		Template: "blue",
		Body:     m.Bold(m.Text(s.Subject())) + "\n" + s.Facts(m) + "\n" + s.Note(),
	}))
}

// OperatorAlert renders the operator alert.
func (r Renderer) OperatorAlert(a notify.Alert) notify.Message {
	m := markup{}
	body := m.Bold(m.Text(a.CauseLine(r.Lang)))
	if fix := a.Fix(r.Lang); fix != "" {
		body += "\n" + m.Prose(fix)
	}
	return message(r.withConsole(Content{Title: a.Headline(r.Lang), Template: "red", Body: body, Note: m.Text(a.Waiting(r.Lang))}))
}

// mention sets c's mentions and returns the line of <at> tags that
// notifies them; "" when nobody is to be mentioned.
func (r Renderer) mention(c *Content) string {
	var tags []string
	for _, id := range r.AtUserIDs {
		if id = strings.TrimSpace(id); id != "" {
			c.Mentions = append(c.Mentions, id)
			tags = append(tags, atTag(id))
		}
	}
	return strings.Join(tags, " ")
}

// atTag is how a card's markdown mentions a user.
func atTag(id string) string { return "<at id=" + id + "></at>" }

// room is the budget left in the body for instances or tasks, once the rest
// of the card, head and foot are in: one section, as the body is one
// markdown element.
func room(c Content, head, foot string) notify.Budget {
	c.Body = layout(head, nil, "", foot)
	raw, _ := c.wire("", "") // only strings: it encodes
	n := MaxBodyBytes - len(raw) - signReserve - noteReserve - 2*jsonLen(paragraph)
	return notify.Budget{SectionMax: n, Sections: 1, Total: n}
}

// paragraph separates the parts of a body.
const paragraph = "\n\n"

// layout joins the parts of a body.
func layout(head string, sections []string, more, foot string) string {
	parts := append([]string{head}, sections...)
	if more != "" {
		parts = append(parts, more)
	}
	if foot != "" {
		parts = append(parts, foot)
	}
	return strings.Join(parts, paragraph)
}

// templateOf is the header colour of a verdict.
func templateOf(v precheck.Verdict) string {
	switch v {
	case precheck.Passed:
		return "green"
	case precheck.Warning:
		return "orange"
	default:
		return "red"
	}
}
