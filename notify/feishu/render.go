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

// MaxAppBodyBytes is the most bytes of an app bot's card message request:
// "卡片及富文本消息请求体最大不能超过30KB".
const MaxAppBodyBytes = 30 << 10

// signReserve is room kept in the body for the timestamp and sign fields;
// appReserve for an app bot's receive_id and uuid.
const (
	signReserve = 100
	appReserve  = 200
)

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

	// app marks a card rendered for an app bot, which sends it as a JSON
	// string inside its request: its size is counted that way.
	app bool
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
// promises: a title and a body, valid UTF-8, the request within
// MaxBodyBytes once signed (MaxAppBodyBytes with its chat and uuid for an
// app bot), and every mention written in the body.
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
	max, reserve := c.limit()
	if raw, err := c.encode(); err != nil {
		fail("cannot encode: %v", err)
	} else if n := len(raw) + reserve; n > max {
		fail("body has %d bytes once addressed and signed, over %d", n, max)
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

// card is c as a card.
func (c Content) card() wireCard {
	var card wireCard
	card.Config.WideScreenMode = true
	card.Header.Template = c.Template
	card.Header.Title = wireText{Tag: "plain_text", Content: c.Title}
	card.Elements = []wireElement{{Tag: "markdown", Content: c.Body}}
	if c.Note != "" {
		card.Elements = append(card.Elements, wireElement{Tag: "hr"},
			wireElement{Tag: "note", Elements: []wireText{{Tag: "lark_md", Content: c.Note}}})
	}
	card.Elements = append(card.Elements, wireElement{Tag: "action", Actions: []wireButton{
		{Tag: "button", Text: wireText{Tag: "plain_text", Content: c.Button}, Type: "default", URL: c.URL},
	}})
	return card
}

// wire is the custom bot's request body of c, signed with timestamp and
// sign when set.
func (c Content) wire(timestamp, sign string) ([]byte, error) {
	return encodeJSON(wireBody{Timestamp: timestamp, Sign: sign, MsgType: "interactive", Card: c.card()})
}

// appWire is the app bot's request body of c: the card, encoded, is the
// content string of a message to chatID under uuid.
func (c Content) appWire(chatID, uuid string) ([]byte, error) {
	card, err := encodeJSON(c.card())
	if err != nil {
		return nil, err
	}
	return encodeJSON(appBody{ReceiveID: chatID, MsgType: "interactive", Content: string(card), UUID: uuid})
}

// appBody is the app bot's message request (im/v1/messages).
type appBody struct {
	ReceiveID string `json:"receive_id"`
	MsgType   string `json:"msg_type"`
	Content   string `json:"content"`
	UUID      string `json:"uuid,omitempty"`
}

// encode is c's request body before it is signed or addressed, in the
// form its bot sends it.
func (c Content) encode() ([]byte, error) {
	if c.app {
		return c.appWire("", "")
	}
	return c.wire("", "")
}

// limit is the most bytes of c's request body, and the room kept in it
// for what encode leaves out.
func (c Content) limit() (max, reserve int) {
	if c.app {
		return MaxAppBodyBytes, appReserve
	}
	return MaxBodyBytes, signReserve
}

// encodeJSON encodes v as JSON, HTML left unescaped, without a newline.
func encodeJSON(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
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

	// app renders for an app bot: the same cards, sized for its request.
	app bool
}

func (r Renderer) message(c Content) notify.Message {
	c.app = r.app
	return notify.Message{Content: c}
}

func (r Renderer) markup() markup { return markup{nested: r.app} }

// withConsole is c with the button to Security Center's console.
func (r Renderer) withConsole(c Content) Content {
	c.Button, c.URL = r.Lang.Console(), notify.DefaultConsoleURL
	return c
}

// Verdict renders a verdict: the verdict and subject in the header, the
// summary and instances in the body, the facts in the note.
func (r Renderer) Verdict(t precheck.Task, o precheck.Outcome) notify.Message {
	m := r.markup()
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
	sections, more := v.Instances(m, r.room(c, head, foot))
	c.Body = layout(head, sections, more, foot)
	return r.message(c)
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

func (r Renderer) digest(d notify.Digest) (notify.Message, int) {
	m := r.markup()
	c := r.withConsole(Content{Title: notify.ClipRunes(d.Title(), maxTitle), Template: templateOf(d.Worst())})
	head, foot := d.Tally(), ""
	if d.Alerting() {
		foot = r.mention(&c)
	}
	sections, shown, more := d.Tasks(m, r.room(c, head, foot))
	c.Body = layout(head, sections, more, foot)
	return r.message(c), shown
}

// Started renders the running notice.
func (r Renderer) Started(t precheck.Task) notify.Message {
	m := r.markup()
	s := notify.NewStarted(t, r.Lang)
	return r.message(r.withConsole(Content{
		Title:    notify.ClipRunes(s.Title(), maxTitle),
		Template: "blue",
		Body:     m.Bold(m.Text(s.Subject())) + "\n" + s.Facts(m) + "\n" + s.Note(),
	}))
}

// OperatorAlert renders the operator alert.
func (r Renderer) OperatorAlert(a notify.Alert) notify.Message {
	m := r.markup()
	body := m.Bold(m.Text(a.CauseLine(r.Lang)))
	if fix := a.Fix(r.Lang); fix != "" {
		body += "\n" + m.Prose(fix)
	}
	return r.message(r.withConsole(Content{Title: a.Headline(r.Lang), Template: "red", Body: body, Note: m.Text(a.Waiting(r.Lang))}))
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
func (r Renderer) room(c Content, head, foot string) notify.Budget {
	c.Body, c.app = layout(head, nil, "", foot), r.app
	raw, _ := c.encode() // only strings: it encodes
	max, reserve := c.limit()
	n := max - len(raw) - reserve - noteReserve - 2*r.markup().Size(paragraph)
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
