package slack

import (
	"strings"
	"testing"

	slackapi "github.com/slack-go/slack"

	"precheckwatch/notify/notifytest"
)

func TestSummaryEscapesUserData(t *testing.T) {
	c := Renderer{}.Summary(notifytest.HostileRun(t, "<script>alert(1)</script> & <!channel> *bold*\nsecond line")).Content.(Content)
	if err := c.Check(); err != nil {
		t.Error(err)
	}
	mrkdwn := escapedMrkdwn(t, c)
	if all := strings.Join(mrkdwn, "\n"); !strings.Contains(all, "&lt;!channel&gt;") || strings.Count(all, "second line") < 3 {
		t.Errorf("the fleet's names are not all shown escaped:\n%s", all)
	}
	if h := c.Blocks[0].(*slackapi.HeaderBlock).Text.Text; strings.Contains(h, "\n") {
		t.Errorf("header spans lines: %q", h)
	}
}
