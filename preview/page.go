// Package preview serves a page that shows precheckwatch's messages as
// Slack, DingTalk and Feishu would render them, for reviewing message templates.
// The page is self-contained: no script, no external style, font or image.
package preview

import (
	"bytes"
	_ "embed"
	"fmt"
	"html/template"
	"net/http"
	"regexp"
	"strings"
	"sync"

	"github.com/slack-go/slack"

	notifyfeishu "precheckwatch/notify/feishu"
	notifyslack "precheckwatch/notify/slack"
)

var (
	//go:embed page.html.tmpl
	pageSource string
	//go:embed style.css
	pageStyle string
)

// pageTemplate is parsed on first use, like the patterns (lazyRegexp).
var pageTemplate = sync.OnceValue(func() *template.Template {
	return template.Must(template.New("page").Parse(pageSource))
})

// lazyRegexp compiles expr on first use: only the preview command needs the
// page's patterns, and compiling them at package initialisation would add
// to every cold start of the function.
func lazyRegexp(expr string) func() *regexp.Regexp {
	return sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(expr) })
}

// contentSecurityPolicy lets the page load nothing at all but its own
// inline style, so a review never reaches the network and no script runs.
const contentSecurityPolicy = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"

// Handler serves the page of samples at "/" (GET and HEAD); other paths
// are not found.
func Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		samples, err := Samples()
		if err != nil {
			http.Error(w, "render the samples: "+err.Error(), http.StatusInternalServerError)
			return
		}
		page, err := Render(samples)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		h := w.Header()
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		h.Set("Cache-Control", "no-store")
		h.Set("X-Content-Type-Options", "nosniff")
		_, _ = w.Write(page)
	})
}

// Render writes the page for samples.
func Render(samples []Sample) ([]byte, error) {
	view := pageView{Style: template.CSS(pageStyle)}
	for _, s := range samples {
		view.Samples = append(view.Samples, sampleViewOf(s))
	}
	var b bytes.Buffer
	if err := pageTemplate().Execute(&b, view); err != nil {
		return nil, fmt.Errorf("render the preview page: %w", err)
	}
	return b.Bytes(), nil
}

// pageView is what the page template shows.
type pageView struct {
	Style   template.CSS
	Samples []sampleView
}

// sampleView is one sample in both channels' looks and as plain text.
type sampleView struct {
	ID       string
	Title    string
	Slack    slackView
	DingTalk dingTalkView
	Feishu   feishuView
	Plain    string
}

// slackView is a Slack message: the notification (its fallback text, which
// notifications show without formatting), body blocks and the attachment
// with its coloured bar.
type slackView struct {
	Notification string
	Body         []blockView
	ColorName    string
	Color        string // CSS colour of the bar
	Detail       []blockView
}

// blockView is one Block Kit block.
type blockView struct {
	Kind    string
	HTML    template.HTML
	Fields  []template.HTML
	Buttons []buttonView
}

type buttonView struct {
	Label string
	URL   string
}

// dingTalkView is a DingTalk markdown message.
type dingTalkView struct {
	Title    string
	HTML     template.HTML
	Mentions []string
}

// feishuView is a Feishu interactive card.
type feishuView struct {
	Title    string
	Color    string // CSS colour of the header
	HTML     template.HTML
	Note     template.HTML
	Button   buttonView
	Mentions []string
}

// feishuHeaders are the CSS colours of the card header templates used.
var feishuHeaders = map[string]string{"green": "#2ea121", "orange": "#de7802", "red": "#d83931", "blue": "#245bdb"}

// feishuAt is how card markdown mentions a user.
var feishuAt = regexp.MustCompile(`<at id=([^\s>]+)></at>`)

// feishuHTML renders card markdown as the Feishu client shows it: a bare
// newline breaks the line, and <at id=…></at> shows as the mention.
func feishuHTML(markdown string, mentions []string) template.HTML {
	markdown = feishuAt.ReplaceAllString(markdown, "@$1")
	return dingTalkHTML(strings.ReplaceAll(markdown, "\n", "  \n"), mentions)
}

func feishuViewOf(c notifyfeishu.Content) feishuView {
	v := feishuView{Title: c.Title, Color: feishuHeaders[c.Template], HTML: feishuHTML(c.Body, c.Mentions),
		Button: buttonView{Label: c.Button, URL: c.URL}, Mentions: c.Mentions}
	if c.Note != "" {
		v.Note = feishuHTML(c.Note, nil)
	}
	return v
}

func sampleViewOf(s Sample) sampleView {
	mentions := append(append([]string(nil), s.DingTalk.AtMobiles...), s.DingTalk.AtUserIds...)
	return sampleView{
		ID:    s.ID,
		Title: s.Title,
		Slack: slackView{
			Notification: strings.TrimSpace(notifyslack.Content{Text: s.Slack.Text}.Plain()),
			Body:         blockViews(s.Slack.Blocks),
			ColorName:    s.Slack.Color,
			Color:        barColor(s.Slack.Color),
			Detail:       blockViews(s.Slack.Detail),
		},
		DingTalk: dingTalkView{
			Title:    s.DingTalk.Title,
			HTML:     dingTalkHTML(s.DingTalk.Text, mentions),
			Mentions: mentions,
		},
		Feishu: feishuViewOf(s.Feishu),
		Plain:  s.Slack.Plain(),
	}
}

func blockViews(blocks []slack.Block) []blockView {
	var out []blockView
	for _, b := range blocks {
		out = append(out, blockViewOf(b))
	}
	return out
}

// blockViewOf renders the block types Slack messages use; any other shows
// as its type name, so a reviewer sees it is not previewed.
func blockViewOf(b slack.Block) blockView {
	text := func(t *slack.TextBlockObject) template.HTML {
		switch {
		case t == nil:
			return ""
		case t.Type == slack.MarkdownType:
			return slackHTML(t.Text)
		default:
			return template.HTML(template.HTMLEscapeString(t.Text))
		}
	}
	switch b := b.(type) {
	case *slack.HeaderBlock:
		return blockView{Kind: "header", HTML: text(b.Text)}
	case *slack.SectionBlock:
		v := blockView{Kind: "section", HTML: text(b.Text)}
		for _, f := range b.Fields {
			v.Fields = append(v.Fields, text(f))
		}
		return v
	case *slack.ContextBlock:
		v := blockView{Kind: "context"}
		for _, el := range b.ContextElements.Elements {
			if t, ok := el.(*slack.TextBlockObject); ok {
				v.Fields = append(v.Fields, text(t))
			}
		}
		return v
	case *slack.ActionBlock:
		v := blockView{Kind: "actions"}
		if b.Elements != nil {
			for _, el := range b.Elements.ElementSet {
				if btn, ok := el.(*slack.ButtonBlockElement); ok && btn.Text != nil {
					v.Buttons = append(v.Buttons, buttonView{Label: btn.Text.Text, URL: btn.URL})
				}
			}
		}
		return v
	case *slack.DividerBlock:
		return blockView{Kind: "divider"}
	case nil:
		return blockView{Kind: "unknown", HTML: "(nil block)"}
	default:
		return blockView{Kind: "unknown", HTML: template.HTML(template.HTMLEscapeString("(" + string(b.BlockType()) + " block, not previewed)"))}
	}
}

var hexColor = lazyRegexp(`^#[0-9A-Fa-f]{6}$`)

// barColor is the CSS colour Slack draws an attachment's bar in: its
// legacy named colours, or the hex colour itself.
func barColor(name string) string {
	switch name {
	case "good":
		return "#2eb886"
	case "warning":
		return "#daa038"
	case "danger":
		return "#a30200"
	}
	if hexColor().MatchString(name) {
		return name
	}
	return "#dddddd"
}
