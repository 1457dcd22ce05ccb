package feishu

import (
	"encoding/json"
	"strings"
	"testing"

	"precheckwatch/notify"
	"precheckwatch/notify/notifytest"
)

var loud = Renderer{AtUserIDs: []string{"ou_oncall"}}

// goldenFiles compares m with its golden files: the card as sent, pretty
// printed, and the plain text.
func goldenFiles(t *testing.T, name string, m notify.Message) {
	c := m.Content.(Content)
	raw, err := c.wire("", "")
	if err != nil {
		t.Fatal(err)
	}
	var pretty strings.Builder
	enc := json.NewEncoder(&pretty)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	notifytest.Golden(t, name+".json", []byte(pretty.String()))
	notifytest.Golden(t, name+".txt", []byte(c.Plain()))
}

func TestGolden(t *testing.T) { notifytest.GoldenMessages(t, loud, goldenFiles) }

var zhLoud = Renderer{AtUserIDs: loud.AtUserIDs, Lang: notify.Chinese}

func TestGoldenChinese(t *testing.T) {
	notifytest.GoldenMessages(t, zhLoud, func(t *testing.T, name string, m notify.Message) { goldenFiles(t, name+".zh", m) })
	notifytest.Chinese(t, zhLoud)
}

// appLoud renders for an app bot, as NewApp sets it.
var appLoud = Renderer{AtUserIDs: loud.AtUserIDs, app: true}

func TestConformance(t *testing.T) {
	mentions := func(c notify.Content) bool {
		f := c.(Content)
		inBody := strings.Contains(f.Body, "<at id=ou_oncall></at>")
		if inBody != (len(f.Mentions) == 1) {
			t.Errorf("mentions %v, <at> in the body %v", f.Mentions, inBody)
		}
		return inBody
	}
	t.Run("custom bot", func(t *testing.T) {
		notifytest.Conformance(t, notifytest.Channel{Loud: loud, Quiet: Renderer{}, Mentions: mentions})
	})
	t.Run("app bot", func(t *testing.T) {
		notifytest.Conformance(t, notifytest.Channel{Loud: appLoud, Quiet: Renderer{app: true}, Mentions: mentions})
	})
}

// The app bot's card is the custom bot's: the same content, only sized
// for its larger request (a card the custom bot cuts short shows more) and
// sent as a string.
func TestAppCardIsTheCustomBotsCard(t *testing.T) {
	for _, f := range notifytest.Fixtures(t) {
		hook, app := loud.Verdict(f.Task, f.Outcome).Content.(Content), appLoud.Verdict(f.Task, f.Outcome).Content.(Content)
		cut := strings.Contains(hook.Body, "…and ")
		if hook.Title != app.Title || hook.Note != app.Note || !app.app || (!cut && hook.Body != app.Body) || (cut && len(app.Body) <= len(hook.Body)) {
			t.Errorf("%s: the app bot's card differs from the custom bot's", f.Name)
		}
		raw, err := app.appWire("oc_1", "t-1:feishu:FAILED")
		if err != nil {
			t.Fatal(err)
		}
		var body struct {
			ReceiveID string `json:"receive_id"`
			MsgType   string `json:"msg_type"`
			Content   string `json:"content"`
			UUID      string `json:"uuid"`
		}
		if err := json.Unmarshal(raw, &body); err != nil {
			t.Fatal(err)
		}
		card, _ := encodeJSON(app.card())
		if body.Content != string(card) || body.MsgType != "interactive" || body.ReceiveID != "oc_1" || body.UUID != "t-1:feishu:FAILED" {
			t.Errorf("%s: body %s…, want the card as its content", f.Name, raw[:min(len(raw), 200)])
		}
	}
}

func FuzzRender(f *testing.F) { notifytest.Fuzz(f, loud) }

func TestEscapesUserData(t *testing.T) {
	f := notifytest.Hostile(t, "<at id=all></at> <script>alert(1)</script> *bold* ~~gone~~ [x](http://evil)\nsecond line")
	c := Renderer{}.Verdict(f.Task, f.Outcome).Content.(Content)
	if err := c.Check(); err != nil {
		t.Error(err)
	}
	for _, bad := range []string{"<at id=all>", "<script>", "<b>", "<i>", "<img>", "[x](http://evil)", "*bold*", "~~gone~~", "\nsecond line"} {
		if strings.Contains(c.Body, bad) || strings.Contains(c.Note, bad) {
			t.Errorf("markdown carries %q unescaped:\n%s", bad, c.Body)
		}
	}
	if strings.Contains(c.Title, "\n") {
		t.Errorf("title spans lines: %q", c.Title)
	}
}

// TestCheckCatchesBrokenMessages proves the validator can fail: each case
// breaks one limit.
func TestCheckCatchesBrokenMessages(t *testing.T) {
	ok := Content{Title: "t", Template: "red", Body: "b", Button: notify.English.Console(), URL: notify.DefaultConsoleURL}
	cases := map[string]func(*Content){
		"over 20 KB":          func(c *Content) { c.Body = strings.Repeat("a", MaxBodyBytes) },
		"over 20 KB, escaped": func(c *Content) { c.Body = strings.Repeat(`"`, MaxBodyBytes/2) },
		"no title":            func(c *Content) { c.Title = "" },
		"no body":             func(c *Content) { c.Body = " " },
		"invalid UTF-8":       func(c *Content) { c.Body = "\xff" },
		"mention not written": func(c *Content) { c.Mentions = []string{"ou_1"} },
		"101-character title": func(c *Content) { c.Title = strings.Repeat("漢", 101) },
	}
	for name, breakIt := range cases {
		c := ok
		breakIt(&c)
		if err := c.Check(); err == nil {
			t.Errorf("Check accepts %s", name)
		}
	}
	if err := ok.Check(); err != nil {
		t.Errorf("Check refuses a small card: %v", err)
	}
	app := ok
	app.app, app.Body = true, strings.Repeat(`"`, MaxAppBodyBytes/4)
	if err := app.Check(); err == nil {
		t.Error("Check accepts an app bot's card over 30 KB once nested")
	}
	app.Body = strings.Repeat("a", MaxBodyBytes)
	if err := app.Check(); err != nil {
		t.Errorf("Check refuses an app bot's card of 20 KB: %v", err)
	}
}

func TestColourPerVerdict(t *testing.T) {
	want := map[string]string{"mysql-passed": "green", "sqlserver-warning": "orange", "oracle-failed": "red", "error": "red", "timed-out": "red"}
	for _, f := range notifytest.Fixtures(t) {
		if c, ok := want[f.Name]; ok {
			if got := loud.Verdict(f.Task, f.Outcome).Content.(Content).Template; got != c {
				t.Errorf("%s: header %q, want %q", f.Name, got, c)
			}
		}
	}
}
