//go:build unix

package preview

import (
	"bytes"
	"context"
	"errors"
	"html"
	"image"
	"image/png"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// chromiumPath is where Debian's chromium package puts the browser.
const chromiumPath = "/usr/bin/chromium"

// chromium runs headless Chromium once with args, as root on a machine
// with no network, and returns its standard output. It kills the browser's
// whole process group when the run takes over a minute, or leaves any
// helper process behind.
func chromium(t *testing.T, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	flags := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir=" + t.TempDir()}
	cmd := exec.CommandContext(ctx, chromiumPath, append(flags, args...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if cmd.Process != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // helpers outliving the browser
	}
	if ctx.Err() != nil {
		t.Fatalf("chromium %s: no answer within a minute, killed\nstderr:\n%s", strings.Join(args, " "), tail(stderr.String()))
	}
	if err != nil {
		t.Fatalf("chromium %s: %v\nstderr:\n%s", strings.Join(args, " "), err, tail(stderr.String()))
	}
	return stdout.Bytes()
}

// tail is the end of a long log.
func tail(s string) string {
	if len(s) > 4000 {
		return "…" + s[len(s)-4000:]
	}
	return s
}

// artifactPath is where the screenshot is kept for people to look at:
// $PRECHECK_ARTIFACTS/preview.png, else testdata/artifacts/preview.png.
func artifactPath(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("PRECHECK_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join("testdata", "artifacts")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path, err := filepath.Abs(filepath.Join(dir, "preview.png"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	return path
}

var tag = regexp.MustCompile(`<[^>]*>`)

// visible is the text of an HTML fragment as a reader sees it.
func visible(fragment string) string {
	return html.UnescapeString(tag.ReplaceAllString(fragment, ""))
}

// between is s from the first start to the following end (or its end).
func between(t *testing.T, s, start, end string) string {
	t.Helper()
	i := strings.Index(s, start)
	if i < 0 {
		t.Fatalf("the page has no %s", start)
	}
	s = s[i:]
	if j := strings.Index(s[len(start):], end); j >= 0 {
		return s[:len(start)+j]
	}
	return s
}

// TestPreviewInChromium loads the page in headless Chromium, checks what a
// person would see of every sample in the rendered DOM, and saves a
// screenshot as a test artifact.
func TestPreviewInChromium(t *testing.T) {
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Fatalf("headless Chromium is needed at %s (%v): run ./scripts/test.sh, which installs Debian's chromium package", chromiumPath, err)
	}
	srv := httptest.NewServer(Handler())
	defer srv.Close()
	url := srv.URL + "/"

	dom := string(chromium(t, "--dump-dom", url))
	if !strings.Contains(dom, "precheckwatch message preview") {
		t.Fatalf("the dumped DOM is not the preview page:\n%s", tail(dom))
	}
	if strings.Contains(strings.ToLower(dom), "<script") {
		t.Error("the DOM holds a <script> element: a label's markup was not escaped")
	}

	mention := func(name string) string { return `<span class="mention">@` + name + `</span>` }
	moreInstances := regexp.MustCompile(`…and \d+ more instances \(\d+ checks: \d+ failed, \d+ warnings, \d+ passed\): open the console`)
	for _, tc := range []struct {
		id    string
		badge string // verdict emoji and word, in both channels
		both  []string
		alert bool   // on-call mentioned in both channels
		bar   string // Slack attachment bar colour, "" for none
		// raw are pieces of the rendered Slack and DingTalk HTML: what
		// markup became.
		slackRaw, dingTalkRaw []string
		more                  bool
	}{
		{id: "mysql-passed", badge: "✅ PASSED", both: []string{"orders-db prod", "i-bp1orders0001", "All 4 checks passed on 1 instance."}, bar: "#2eb886",
			slackRaw: []string{`<b>MySQL</b>`, `<code>MYSQL_BINLOG</code>`}, dingTalkRaw: []string{"<h3>✅ PASSED", `<code>MYSQL_BINLOG</code>`}},
		{id: "sqlserver-warning", badge: "⚠️ WARNING", both: []string{"SET RECOVERY FULL", "SQL_SERVER_DB_IN_SIMPLE_RECOVERY_MODE"}, alert: true, bar: "#daa038",
			slackRaw: []string{`<code>ALTER DATABASE [db] SET RECOVERY FULL;</code>`}, dingTalkRaw: []string{`<blockquote>`, `<code>ALTER DATABASE [db] SET RECOVERY FULL;</code>`}},
		{id: "oracle-failed", badge: "❌ FAILED", both: []string{"NOT_ARCHIVELOG", "Oracle archive log mode", "ALTER PLUGGABLE DATABASE <pdb> OPEN;"}, alert: true, bar: "#a30200",
			slackRaw: []string{`<b>Oracle archive log mode</b> <code>ARCHIVELOG</code> → <code>NOT_ARCHIVELOG</code>`},
			dingTalkRaw: []string{`<li>❌ <b>Oracle archive log mode</b> <code>ARCHIVELOG</code> → <code>NOT_ARCHIVELOG</code>`, `<hr>`,
				`<a href="https://yundun.console.aliyun.com/?p=sas">Open the Security Center console</a>`}},
		{id: "error", badge: "🛑 ERROR", both: []string{`inventory <script>alert("x")</script> & *staging*`, "40% progress"}, alert: true, bar: "#a30200"},
		{id: "timed-out", badge: "⏱️ TIMED_OUT", both: []string{"No verdict before the deadline", "60%"}, alert: true, bar: "#a30200"},
		{id: "digest-mixed", badge: "❌ FAILED", both: []string{"5 prechecks finished", "⚠️ WARNING 1", "✅ PASSED 1", "NOT_ARCHIVELOG"}, alert: true, bar: "#a30200"},
		{id: "truncated-200-instances", badge: "❌ FAILED", both: []string{"i-bp1mysql0017", "i-bp1mysql0150"}, alert: true, bar: "#a30200", more: true},
		{id: "started", badge: "⏳", both: []string{"recheck running", "orders-db prod"}},
		{id: "operator-alert", badge: "🚨", both: []string{"needs an operator", "12 tasks stay queued", "NoPermission"}, bar: "#a30200"},
	} {
		t.Run(tc.id, func(t *testing.T) {
			sample := between(t, dom, `data-sample="`+tc.id+`"`, "<section")
			slackHTML := between(t, sample, `data-channel="slack"`, `data-channel="dingtalk"`)
			dingTalkHTML := between(t, sample, `data-channel="dingtalk"`, `data-channel="feishu"`)
			feishuHTML := between(t, sample, `data-channel="feishu"`, `data-channel="text"`)
			for channel, fragment := range map[string]string{"Slack": slackHTML, "DingTalk": dingTalkHTML, "Feishu": feishuHTML} {
				text := visible(fragment)
				for _, want := range append([]string{tc.badge}, tc.both...) {
					if !strings.Contains(text, want) {
						t.Errorf("%s does not show %q; it shows:\n%s", channel, want, text)
					}
				}
				if tc.more && !moreInstances.MatchString(text) {
					t.Errorf("%s does not say how many instances are left out; it shows:\n%s", channel, text)
				}
			}
			notification := visible(between(t, slackHTML, `data-part="notification"`, "</div>"))
			title := visible(between(t, dingTalkHTML, `data-part="title"`, "</div>"))
			for what, line := range map[string]string{"Slack notification": notification, "DingTalk title": title} {
				if !strings.Contains(line, tc.badge) {
					t.Errorf("%s %q lacks %q", what, line, tc.badge)
				}
			}
			for name, fragment := range map[string]string{"@S0DBAONCALL": slackHTML, "@13800000000": dingTalkHTML, "@oncall-dba": dingTalkHTML} {
				if got := strings.Contains(fragment, mention(strings.TrimPrefix(name, "@"))); got != tc.alert {
					t.Errorf("%s highlighted: %v, want %v", name, got, tc.alert)
				}
			}
			wantBar := `data-color="`
			if got := strings.Contains(slackHTML, wantBar); got != (tc.bar != "") {
				t.Errorf("Slack attachment bar shown: %v, want %v", got, tc.bar != "")
			}
			if tc.bar != "" && !strings.Contains(slackHTML, `style="border-left-color: `+tc.bar+`"`) {
				t.Errorf("Slack attachment bar is not %s:\n%s", tc.bar, between(t, slackHTML, "attachment", ">"))
			}
			for _, want := range tc.slackRaw {
				if !strings.Contains(slackHTML, want) {
					t.Errorf("Slack HTML lacks %s", want)
				}
			}
			for _, want := range tc.dingTalkRaw {
				if !strings.Contains(dingTalkHTML, want) {
					t.Errorf("DingTalk HTML lacks %s", want)
				}
			}
		})
	}

	shot := artifactPath(t)
	chromium(t, "--screenshot="+shot, "--window-size=1400,2400", url)
	checkScreenshot(t, shot)
	t.Logf("screenshot: %s", shot)
}

// checkScreenshot checks the PNG at path decodes, has the window's size and
// is not blank: many colours, among them Slack's and DingTalk's brand
// colours and the green and red bars of the first samples.
func checkScreenshot(t *testing.T, path string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("no screenshot: %v", err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("screenshot %s is not a PNG: %v", path, err)
	}
	if b := img.Bounds(); b.Dx() != 1400 || b.Dy() != 2400 {
		t.Errorf("screenshot is %dx%d, want the window's 1400x2400", b.Dx(), b.Dy())
	}
	colours := map[[3]uint8]int{}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y += 2 {
		for x := b.Min.X; x < b.Max.X; x += 2 {
			colours[rgb(img, x, y)]++
		}
	}
	if len(colours) < 50 {
		t.Errorf("screenshot has %d distinct colours: blank or unstyled", len(colours))
	}
	for name, c := range map[string][3]uint8{
		"Slack purple":      {0x4a, 0x15, 0x4b},
		"DingTalk blue":     {0x16, 0x77, 0xff},
		"PASSED green bar":  {0x2e, 0xb8, 0x86},
		"WARNING amber bar": {0xda, 0xa0, 0x38},
	} {
		if colours[c] < 20 {
			t.Errorf("screenshot shows hardly any %s (#%02x%02x%02x): %d pixels sampled", name, c[0], c[1], c[2], colours[c])
		}
	}
}

func rgb(img image.Image, x, y int) [3]uint8 {
	r, g, b, _ := img.At(x, y).RGBA()
	return [3]uint8{uint8(r >> 8), uint8(g >> 8), uint8(b >> 8)}
}
