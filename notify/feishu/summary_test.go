package feishu

import (
	"strings"
	"testing"

	"precheckwatch/notify/notifytest"
)

func TestSummaryEscapesUserData(t *testing.T) {
	c := Renderer{}.Summary(notifytest.HostileRun(t, "<at id=all></at> <script>alert(1)</script> *bold* ~~gone~~ [x](http://evil)\nsecond line")).Content.(Content)
	if err := c.Check(); err != nil {
		t.Error(err)
	}
	for _, bad := range []string{"<at id=all>", "<script>", "<b>", "<i>", "<img>", "\nsecond line"} {
		if strings.Contains(c.Body, bad) || strings.Contains(c.Note, bad) {
			t.Errorf("markdown carries %q unescaped:\n%s", bad, c.Body)
		}
	}
	// Inside code spans markdown shows characters as they are.
	for _, bad := range []string{"[x](http://evil)", "*bold*", "~~gone~~"} {
		if strings.Contains(notifytest.OutsideCode(c.Body+c.Note), bad) {
			t.Errorf("markdown carries %q unescaped:\n%s", bad, c.Body)
		}
	}
	if strings.Count(c.Body, "second line") < 3 || strings.Contains(c.Title, "\n") {
		t.Errorf("the fleet's names are not all shown on one line each:\n%s", c.Body)
	}
}
