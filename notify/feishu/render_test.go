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

func TestConformance(t *testing.T) {
	notifytest.Conformance(t, notifytest.Channel{
		Loud: loud, Quiet: Renderer{},
		Mentions: func(c notify.Content) bool {
			f := c.(Content)
			inBody := strings.Contains(f.Body, "<at id=ou_oncall></at>")
			if inBody != (len(f.Mentions) == 1) {
				t.Errorf("mentions %v, <at> in the body %v", f.Mentions, inBody)
			}
			return inBody
		},
	})
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
