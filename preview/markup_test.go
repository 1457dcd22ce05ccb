package preview

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestSlackHTML(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
	}{
		{"plain text", "All 4 checks passed.", "All 4 checks passed."},
		{"bold", "*2 failed*, 7 passed", "<b>2 failed</b>, 7 passed"},
		{"italic and strike", "_(empty)_ ~gone~", "<i>(empty)</i> <s>gone</s>"},
		{"nested emphasis", "*bold _and italic_*", "<b>bold <i>and italic</i></b>"},
		{"bold around code", "*see `x`*", "<b>see <code>x</code></b>"},
		{"no emphasis inside words", "TIMED_OUT snake_case_name 2*3*4", "TIMED_OUT snake_case_name 2*3*4"},
		{"no emphasis after a space", "a * b * c", "a * b * c"},
		{"unclosed marker", "*open", "*open"},
		{"code is literal", "`*not bold* &lt;pdb&gt;`", "<code>*not bold* &lt;pdb&gt;</code>"},
		{"empty backticks", "`` then `x`", "`` then <code>x</code>"},
		{"entities", "a &amp; b &lt;c&gt;", "a &amp; b &lt;c&gt;"},
		{"link", "<https://x.example/?a=1&amp;b=2|open the console>", `<a href="https://x.example/?a=1&amp;b=2">open the console</a>`},
		{"bare link", "<https://x.example/>", `<a href="https://x.example/">https://x.example/</a>`},
		{"script link is text", "<javascript:alert(1)|click>", "&lt;javascript:alert(1)&gt;"},
		{"user mention", "<@U123>", `<span class="mention">@U123</span>`},
		{"group mention", "<!subteam^S0DBA> look", `<span class="mention">@S0DBA</span> look`},
		{"named group mention", "<!subteam^S0DBA|@dba>", `<span class="mention">@dba</span>`},
		{"here", "<!here>", `<span class="mention">@here</span>`},
		{"date falls back", "<!date^1392734382^{date}|Feb 18>", "Feb 18"},
		{"markup in text is escaped", `&lt;script&gt;alert("x")&lt;/script&gt;`, "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;"},
		{"raw angle text", `a <b>bold</b>`, "a &lt;b&gt;bold&lt;/b&gt;"},
		{"quotes in a label", `<https://x.example/|"q">`, `<a href="https://x.example/">&#34;q&#34;</a>`},
		{"lines kept", "one\n  two", "one\n  two"},
		{"placeholder runes in text", "a\U00100000b", "a\uFFFDb"},
		{"emoji as is", "❌ *Oracle* `ARCHIVELOG` → `NOT_ARCHIVELOG`", "❌ <b>Oracle</b> <code>ARCHIVELOG</code> → <code>NOT_ARCHIVELOG</code>"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := string(slackHTML(tc.in)); got != tc.want {
				t.Errorf("slackHTML(%q)\n got %q\nwant %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestDingTalkHTML(t *testing.T) {
	mentions := []string{"13800000000", "oncall-dba"}
	for _, tc := range []struct {
		name, in, want string
	}{
		{"heading and paragraph", "### ❌ FAILED · db\n\n**2 failed**, 7 passed",
			"<h3>❌ FAILED · db</h3>\n<p><b>2 failed</b>, 7 passed</p>\n"},
		{"heading then text without a blank line", "#### task\n**1 failed**",
			"<h4>task</h4>\n<p><b>1 failed</b></p>\n"},
		{"soft and hard breaks", "one\ntwo  \nthree", "<p>one\ntwo<br>\nthree</p>\n"},
		{"list with a quoted hint", "- ❌ **binlog** `MYSQL_BINLOG`\n\n> 🔧 set `log_bin`\n\n- ✅ ok",
			"<ul>\n<li>❌ <b>binlog</b> <code>MYSQL_BINLOG</code></li>\n</ul>\n<blockquote>\n<p>🔧 set <code>log_bin</code></p>\n</blockquote>\n<ul>\n<li>✅ ok</li>\n</ul>\n"},
		{"ordered list", "1. first\n2. second", "<ol>\n<li>first</li>\n<li>second</li>\n</ol>\n"},
		{"list item continues", "- one\n  more", "<ul>\n<li>one\nmore</li>\n</ul>\n"},
		{"rule", "text\n\n---\n\nfoot", "<p>text</p>\n<hr>\n<p>foot</p>\n"},
		{"link", "[Open the console](https://yundun.console.aliyun.com/?p=sas&x=1)",
			`<p><a href="https://yundun.console.aliyun.com/?p=sas&amp;x=1">Open the console</a></p>` + "\n"},
		{"bold link label", "[**go**](https://x.example/)", `<p><a href="https://x.example/"><b>go</b></a></p>` + "\n"},
		{"script link is text", "[x](javascript:alert(1))", "<p>[x](javascript:alert(1))</p>\n"},
		{"italic", "*(empty)* and _this_ but not snake_case", "<p><i>(empty)</i> and <i>this</i> but not snake_case</p>\n"},
		{"backslash escapes", `\*not bold\* \[x\] \\`, `<p>*not bold* [x] \</p>` + "\n"},
		{"escaped markers inside bold", `**a\*b**`, "<p><b>a*b</b></p>\n"},
		{"entities show as characters", "&lt;script&gt;alert(1)&lt;/script&gt; &amp; co", "<p>&lt;script&gt;alert(1)&lt;/script&gt; &amp; co</p>\n"},
		{"entities in code", "`OPEN &lt;pdb&gt;`", "<p><code>OPEN &lt;pdb&gt;</code></p>\n"},
		{"raw tags are text", "<b>x</b>", "<p>&lt;b&gt;x&lt;/b&gt;</p>\n"},
		{"mentions", "@13800000000 @oncall-dba @someone",
			`<p><span class="mention">@13800000000</span> <span class="mention">@oncall-dba</span> @someone</p>` + "\n"},
		{"lazy quote continuation", "> a\nb\n- c", "<blockquote>\n<p>a\nb</p>\n</blockquote>\n<ul>\n<li>c</li>\n</ul>\n"},
		{"crlf", "a\r\nb", "<p>a\nb</p>\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := string(dingTalkHTML(tc.in, mentions)); got != tc.want {
				t.Errorf("dingTalkHTML(%q)\n got %q\nwant %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestHandler(t *testing.T) {
	srv := httptest.NewServer(Handler())
	defer srv.Close()
	client := &http.Client{}
	for _, tc := range []struct {
		method, path string
		status       int
	}{
		{http.MethodGet, "/", http.StatusOK},
		{http.MethodHead, "/", http.StatusOK},
		{http.MethodPost, "/", http.StatusMethodNotAllowed},
		{http.MethodGet, "/style.css", http.StatusNotFound},
	} {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			req, err := http.NewRequest(tc.method, srv.URL+tc.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.status)
			}
			if tc.status != http.StatusOK {
				return
			}
			if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
				t.Errorf("Content-Security-Policy %q lets the page load resources", csp)
			}
			if tc.method == http.MethodHead {
				return
			}
			page := string(body)
			for _, forbidden := range []string{"<script", "<link", "<img", "@import", "url(", "<iframe"} {
				if strings.Contains(page, forbidden) {
					t.Errorf("the page holds %q: it must load nothing and run nothing", forbidden)
				}
			}
			// Nine samples, in English and in Chinese.
			if strings.Count(page, "<section class=\"sample\"") != 18 || !strings.Contains(page, `data-sample="oracle-failed-zh"`) {
				t.Errorf("the page shows %d samples, want 9 in each language", strings.Count(page, "<section class=\"sample\""))
			}
		})
	}
}

// TestSamplesKeepTheLimits holds the samples to the limits the renderer
// promises, so the page never shows a message the channels would refuse.
func TestSamplesKeepTheLimits(t *testing.T) {
	samples, err := Samples()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, s := range samples {
		if seen[s.ID] {
			t.Errorf("sample id %q is not unique", s.ID)
		}
		seen[s.ID] = true
		if err := errors.Join(s.Slack.Check(), s.DingTalk.Check()); err != nil {
			t.Errorf("%s: %v", s.ID, err)
		}
	}
}
