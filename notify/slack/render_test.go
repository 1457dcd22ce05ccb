package slack

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	slackapi "github.com/slack-go/slack"

	"precheckwatch/notify"
	"precheckwatch/notify/notifytest"
	"precheckwatch/notify/sample"
)

const testMention = "<!subteam^S123>"

var loud = Renderer{Mention: testMention}

// wire is the message as chat.postMessage receives it.
func wire(t *testing.T, c Content) []byte {
	t.Helper()
	type attachment struct {
		Color  string           `json:"color"`
		Blocks []slackapi.Block `json:"blocks"`
	}
	msg := struct {
		Text        string           `json:"text"`
		Blocks      []slackapi.Block `json:"blocks"`
		Attachments []attachment     `json:"attachments,omitempty"`
	}{Text: c.Text, Blocks: c.Blocks}
	if c.Color != "" {
		msg.Attachments = []attachment{{Color: c.Color, Blocks: c.Detail}}
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(msg); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// goldenFiles compares m with its golden files, the wire JSON and the
// plain text.
func goldenFiles(t *testing.T, name string, m notify.Message) {
	c := m.Content.(Content)
	notifytest.Golden(t, name+".json", wire(t, c))
	notifytest.Golden(t, name+".txt", []byte(c.Plain()))
}

func TestGolden(t *testing.T) { notifytest.GoldenMessages(t, loud, goldenFiles) }

var zhLoud = Renderer{Mention: testMention, Lang: notify.Chinese}

func TestGoldenChinese(t *testing.T) {
	notifytest.GoldenMessages(t, zhLoud, func(t *testing.T, name string, m notify.Message) { goldenFiles(t, name+".zh", m) })
	notifytest.Chinese(t, zhLoud)
}

func TestConformance(t *testing.T) {
	notifytest.Conformance(t, notifytest.Channel{
		Loud: loud, Quiet: Renderer{},
		Mentions: func(c notify.Content) bool {
			s := c.(Content)
			inText := strings.Contains(s.Text, testMention)
			if inBlocks := strings.Contains(string(wire(t, Content{Text: "-", Blocks: s.Blocks})), testMention); inBlocks != inText {
				t.Errorf("mention in the text %v, in the blocks %v", inText, inBlocks)
			}
			return inText
		},
	})
}

func FuzzRender(f *testing.F) { notifytest.Fuzz(f, loud) }

func TestEscapesUserData(t *testing.T) {
	f := notifytest.Hostile(t, "<script>alert(1)</script> & <!channel> *bold* [x](http://evil)\nsecond line")
	c := Renderer{}.Verdict(f.Task, f.Outcome).Content.(Content)
	if err := c.Check(); err != nil {
		t.Error(err)
	}
	mrkdwn := escapedMrkdwn(t, c)
	all := strings.Join(mrkdwn, "\n")
	for _, want := range []string{"&lt;script&gt;", "&lt;!channel&gt;", "&amp;", "`i-'tick'&lt;img&gt;`"} {
		if !strings.Contains(all, want) {
			t.Errorf("mrkdwn lacks %q", want)
		}
	}
	if h := c.Blocks[0].(*slackapi.HeaderBlock).Text.Text; strings.Contains(h, "\n") {
		t.Errorf("header spans lines: %q", h)
	}
}

func TestColourPerVerdict(t *testing.T) {
	want := map[string]string{"mysql-passed": "good", "sqlserver-warning": "warning", "oracle-failed": "danger", "error": "danger", "timed-out": "danger"}
	for _, f := range notifytest.Fixtures(t) {
		if c, ok := want[f.Name]; ok {
			if got := loud.Verdict(f.Task, f.Outcome).Content.(Content).Color; got != c {
				t.Errorf("%s: colour %q, want %q", f.Name, got, c)
			}
		}
	}
	if got := loud.Digest(notifytest.Mixed(t))[0].Message.Content.(Content).Color; got != "danger" {
		t.Errorf("digest colour %q, want danger", got)
	}
}

// TestCheckCatchesBrokenMessages proves the validator can fail: each case
// breaks one limit.
func TestCheckCatchesBrokenMessages(t *testing.T) {
	section := func(n int) slackapi.Block { return sectionBlock(strings.Repeat("a", n)) }
	many := func(n int, b func() slackapi.Block) []slackapi.Block {
		var out []slackapi.Block
		for range n {
			out = append(out, b())
		}
		return out
	}
	cases := map[string]Content{
		"51 blocks":            {Text: "t", Blocks: many(26, func() slackapi.Block { return section(1) }), Color: "good", Detail: many(25, func() slackapi.Block { return section(1) })},
		"3001-character text":  {Text: "t", Blocks: []slackapi.Block{section(3001)}},
		"151-character header": {Text: "t", Blocks: []slackapi.Block{slackapi.NewHeaderBlock(slackapi.NewTextBlockObject(slackapi.PlainTextType, strings.Repeat("h", 151), false, false))}},
		"12001 in all":         {Text: "t", Blocks: many(5, func() slackapi.Block { return section(2401) })},
		"detail, no colour":    {Text: "t", Detail: []slackapi.Block{section(1)}},
		"bad colour":           {Text: "t", Color: "red", Detail: []slackapi.Block{section(1)}},
		"no fallback text":     {Blocks: []slackapi.Block{section(1)}},
		"unchecked block":      {Text: "t", Blocks: []slackapi.Block{slackapi.NewImageBlock("https://x/y.png", "alt", "", nil)}},
		"duplicate block ids":  {Text: "t", Blocks: []slackapi.Block{&slackapi.DividerBlock{Type: slackapi.MBTDivider, BlockID: "a"}, &slackapi.DividerBlock{Type: slackapi.MBTDivider, BlockID: "a"}}},
		"mrkdwn header":        {Text: "t", Blocks: []slackapi.Block{slackapi.NewHeaderBlock(slackapi.NewTextBlockObject(slackapi.MarkdownType, "h", false, false))}},
		"empty section":        {Text: "t", Blocks: []slackapi.Block{sectionBlock("")}},
	}
	for name, c := range cases {
		if err := c.Check(); err == nil {
			t.Errorf("Check accepts %s", name)
		}
	}
	if err := (Content{Text: "t", Blocks: many(50, func() slackapi.Block { return section(240) })}).Check(); err != nil {
		t.Errorf("Check refuses a message at the limits: %v", err)
	}
}

func BenchmarkRenderVerdict(b *testing.B) {
	fs := notifytest.Fixtures(b)
	for _, f := range []sample.Verdict{fs[2], fs[6]} {
		b.Run(f.Name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				loud.Verdict(f.Task, f.Outcome)
			}
		})
	}
}

// escapedMrkdwn returns every mrkdwn text of c, failing t for any that
// carries user data unescaped.
func escapedMrkdwn(t *testing.T, c Content) []string {
	t.Helper()
	mrkdwn := []string{c.Text}
	for _, b := range append(append([]slackapi.Block(nil), c.Blocks...), c.Detail...) {
		switch b := b.(type) {
		case *slackapi.SectionBlock:
			mrkdwn = append(mrkdwn, b.Text.Text)
		case *slackapi.ContextBlock:
			for _, el := range b.ContextElements.Elements {
				mrkdwn = append(mrkdwn, el.(*slackapi.TextBlockObject).Text)
			}
		}
	}
	for _, s := range mrkdwn {
		for _, bad := range []string{"<script>", "<!channel>", "<b>", "<i>", "<img>", " & "} {
			if strings.Contains(s, bad) {
				t.Errorf("mrkdwn carries %q unescaped: %s", bad, s)
			}
		}
	}
	return mrkdwn
}
