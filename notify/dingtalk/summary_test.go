package dingtalk

import (
	"strings"
	"testing"

	"precheckwatch/notify/notifytest"
)

func TestSummaryEscapesUserData(t *testing.T) {
	c := Renderer{}.Summary(notifytest.HostileRun(t, "<script>alert(1)</script> & *bold* [x](http://evil)\nsecond line")).Content.(Content)
	if err := c.Check(); err != nil {
		t.Error(err)
	}
	for _, bad := range []string{"<script>", "<b>", "<i>", "<img>", "\nsecond line"} {
		if strings.Contains(c.Text, bad) {
			t.Errorf("markdown carries %q unescaped:\n%s", bad, c.Text)
		}
	}
	// Inside code spans markdown shows characters as they are.
	for _, bad := range []string{"[x](http://evil)", "*bold*"} {
		if strings.Contains(notifytest.OutsideCode(c.Text), bad) {
			t.Errorf("markdown carries %q unescaped:\n%s", bad, c.Text)
		}
	}
	if strings.Count(c.Text, "second line") < 3 || strings.Contains(c.Title, "\n") {
		t.Errorf("the fleet's names are not all shown on one line each:\n%s", c.Text)
	}
}
