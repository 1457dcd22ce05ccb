package dingtalk

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"precheckwatch/notify"
	"precheckwatch/notify/notifytest"
)

var loud = Renderer{AtMobiles: []string{"13800000000"}, AtUserIDs: []string{"oncall-dba"}}

// goldenFile compares m with its golden file: title, mentions and text.
func goldenFile(t *testing.T, name string, m notify.Message) {
	c := m.Content.(Content)
	notifytest.Golden(t, name+".md", fmt.Appendf(nil, "title: %s\natMobiles: %v\natUserIds: %v\n---\n%s\n", c.Title, c.AtMobiles, c.AtUserIds, c.Text))
}

func TestGolden(t *testing.T) { notifytest.GoldenMessages(t, loud, goldenFile) }

var zhLoud = Renderer{AtMobiles: loud.AtMobiles, AtUserIDs: loud.AtUserIDs, Lang: notify.Chinese}

func TestGoldenChinese(t *testing.T) {
	notifytest.GoldenMessages(t, zhLoud, func(t *testing.T, name string, m notify.Message) { goldenFile(t, name+".zh", m) })
	notifytest.Chinese(t, zhLoud)
}

func TestConformance(t *testing.T) {
	notifytest.Conformance(t, notifytest.Channel{
		Loud: loud, Quiet: Renderer{},
		Mentions: func(c notify.Content) bool {
			d := c.(Content)
			inAt := len(d.AtMobiles) == 1 && len(d.AtUserIds) == 1
			inText := strings.Contains(d.Text, "@13800000000") && strings.Contains(d.Text, "@oncall-dba")
			if inAt != inText || (!inAt && len(d.AtMobiles)+len(d.AtUserIds) > 0) {
				t.Errorf("at field %v, @ in text %v", d.AtMobiles, inText)
			}
			return inAt
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
	for _, bad := range []string{"<script>", "<b>", "<i>", "<img>", "[x](http://evil)", "*bold*", "\nsecond line"} {
		if strings.Contains(c.Text, bad) {
			t.Errorf("markdown carries %q unescaped", bad)
		}
	}
}

// TestCheckCatchesBrokenMessages proves the validator can fail: each case
// breaks one limit.
func TestCheckCatchesBrokenMessages(t *testing.T) {
	cases := map[string]Content{
		"15001 bytes":        {Title: "t", Text: strings.Repeat("a", MaxTextBytes+1)},
		"5001 CJK runes":     {Title: "t", Text: strings.Repeat("漢", 5001)},
		"@ not in text":      {Title: "t", Text: "x", AtMobiles: []string{"13800000000"}},
		"user @ not in text": {Title: "t", Text: "@13800000000", AtMobiles: []string{"13800000000"}, AtUserIds: []string{"u1"}},
		"no title":           {Text: "x"},
		"invalid UTF-8":      {Title: "t", Text: "\xff"},
	}
	for name, c := range cases {
		if err := c.Check(); err == nil {
			t.Errorf("Check accepts %s", name)
		}
	}
	if err := (Content{Title: "t", Text: strings.Repeat("a", MaxTextBytes)}).Check(); err != nil {
		t.Errorf("Check refuses a message at the limit: %v", err)
	}
}

func TestRestoreRoundTrips(t *testing.T) {
	f := notifytest.Fixtures(t)[2]
	c := loud.Verdict(f.Task, f.Outcome).Content
	kept, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	got, err := (&Robot{}).Restore(kept)
	if err != nil {
		t.Fatal(err)
	}
	if got.Plain() != c.Plain() || fmt.Sprint(got) != fmt.Sprint(c) {
		t.Errorf("restored %v, kept %v", got, c)
	}
	if _, err := (&Robot{}).Restore([]byte("{")); err == nil {
		t.Error("Restore accepts broken JSON")
	}
}
