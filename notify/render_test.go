package notify

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"precheckwatch/precheck"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// Fixed clock: nothing in golden output depends on when tests run.
var (
	firstSeen = time.Date(2026, 11, 27, 2, 0, 0, 0, time.UTC)
	decidedAt = firstSeen.Add(4*time.Minute + 12*time.Second)
	policy    = precheck.Policy{BackoffInitial: 15 * time.Second, BackoffMax: 5 * time.Minute, Deadline: 2 * time.Hour}
)

var testOpts = RenderOptions{
	SlackMention:      "<!subteam^S123>",
	DingTalkAtMobiles: []string{"13800000000"},
	DingTalkAtUserIDs: []string{"oncall-dba"},
}

// decided runs a task through the domain's own decision, as the handler
// does, so the fixtures are outcomes the product really produces.
func decided(t testing.TB, task precheck.Task, s precheck.Status, now time.Time, attempts int) Finished {
	t.Helper()
	task.FirstSeen = firstSeen.UnixMilli()
	task.Attempt = attempts - 1
	d := precheck.Decide(task, s, now, policy, 0.5)
	if d.Action != precheck.Finish || d.Task.Final == nil {
		t.Fatalf("task %s: decision is %v, not a verdict", task.TaskID, d.Action)
	}
	return Finished{Task: d.Task, Outcome: *d.Task.Final}
}

func completed(t testing.TB, task precheck.Task, result string) Finished {
	t.Helper()
	return decided(t, task, precheck.Status{Progress: 100, Description: precheck.DescCompleted, Result: result}, decidedAt, 5)
}

func instanceJSON(id, source string, checkTime int64, items ...string) string {
	var results []string
	for i := 0; i+1 < len(items); i += 2 {
		results = append(results, fmt.Sprintf(`{"item":%q,"result":%q}`, items[i], items[i+1]))
	}
	return fmt.Sprintf(`{"instanceId":%q,"checkTime":%d,"sourceType":%q,"results":[%s]}`, id, checkTime, source, strings.Join(results, ","))
}

// manyMySQL is n MySQL instances; those numbered in failing lack binlog.
func manyMySQL(n int, failing ...int) string {
	var ins []string
	for i := range n {
		binlog := "PASSED"
		for _, f := range failing {
			if f == i {
				binlog = "FAILED"
			}
		}
		ins = append(ins, instanceJSON(fmt.Sprintf("i-bp1mysql%04d", i), "MYSQL", 1795744800+int64(i),
			"OSS_INTERNAL_ENDPOINT_CONNECTIVITY", "PASSED", "SERVICE_CONNECTIVITY", "PASSED",
			"MYSQL_VERSION", "PASSED", "MYSQL_BINLOG", binlog))
	}
	return "[" + strings.Join(ins, ",") + "]"
}

type fixture struct {
	name string
	Finished
	truncated bool // too big to show every instance
}

func fixtures(t testing.TB) []fixture {
	mysql := completed(t, precheck.Task{
		TaskID: "t-000bc9nqwxsbyvod0001", UniRegionID: "cn-hangzhou", InstanceUUID: "ebc895506c6911ed800000163e0e0001",
		DatabaseType: "MYSQL", Label: "orders-db prod",
	}, "["+instanceJSON("i-bp1orders0001", "MYSQL", 1795744980,
		"OSS_INTERNAL_ENDPOINT_CONNECTIVITY", "PASSED", "SERVICE_CONNECTIVITY", "PASSED",
		"MYSQL_VERSION", "PASSED", "MYSQL_BINLOG", "PASSED")+"]")
	mssql := completed(t, precheck.Task{
		TaskID: "t-000bc9nqwxsbyvod0002", UniRegionID: "cn-hangzhou", InstanceUUID: "ebc895506c6911ed800000163e0e0002",
		DatabaseType: "MSSQL", Label: "billing-sqlserver",
	}, "["+instanceJSON("i-wz91if83t97xgtn2****", "MSSQL", 1671245753,
		"OSS_INTERNAL_ENDPOINT_CONNECTIVITY", "PASSED", "SERVICE_CONNECTIVITY", "PASSED",
		"SQL_SERVER_DB_IN_SIMPLE_RECOVERY_MODE", "WARNING", "SQL_SERVER_DB_NOT_ONLINE", "PASSED")+"]")
	oracle := completed(t, precheck.Task{
		TaskID: "t-000bc9nqwxsbyvod0003", UniRegionID: "cn-shanghai", DatabaseType: "ORACLE", Label: "erp-oracle",
	}, "["+instanceJSON("i-uf6erp0001", "ORACLE", 1795745000,
		"OSS_INTERNAL_ENDPOINT_CONNECTIVITY", "PASSED", "SERVICE_CONNECTIVITY", "PASSED",
		"ORACLE_INSTANCE_STATUS", "PASSED", "ORACLE_DB_STATUS", "PASSED", "ARCHIVELOG", "NOT_ARCHIVELOG")+","+
		instanceJSON("i-uf6erp0002", "ORACLE", 1795745010,
			"OSS_INTERNAL_ENDPOINT_CONNECTIVITY", "PASSED", "SERVICE_CONNECTIVITY", "PASSED",
			"ORACLE_INSTANCE_STATUS", "PASSED", "ORACLE_DB_STATUS", "WARNING", "ARCHIVELOG", "FAILED")+"]")
	errored := decided(t, precheck.Task{
		TaskID: "t-000bc9nqwxsbyvod0004", UniRegionID: "cn-hangzhou", DatabaseType: "MYSQL", Label: "inventory-db",
	}, precheck.Status{Progress: 40, Description: precheck.DescError}, decidedAt, 3)
	timedOut := decided(t, precheck.Task{
		TaskID: "t-000bc9nqwxsbyvod0005", UniRegionID: "ap-southeast-1", DatabaseType: "MSSQL",
	}, precheck.Status{Progress: 60, Description: precheck.DescCreated}, firstSeen.Add(2*time.Hour+30*time.Second), 24)
	unknown := completed(t, precheck.Task{
		TaskID: "t-000bc9nqwxsbyvod0006", UniRegionID: "cn-hangzhou", Label: "analytics-mysql",
	}, "["+instanceJSON("i-bp1analytics01", "MYSQL", 1795745100,
		"OSS_INTERNAL_ENDPOINT_CONNECTIVITY", "PASSED", "MYSQL_GTID_MODE", "GTID_OFF", "MYSQL_BINLOG", "PASSED")+"]")
	many := completed(t, precheck.Task{
		TaskID: "t-000bc9nqwxsbyvod0007", UniRegionID: "cn-beijing", DatabaseType: "MYSQL", Label: "mysql fleet",
	}, manyMySQL(200, 17, 150))
	return []fixture{
		{name: "mysql-passed", Finished: mysql},
		{name: "sqlserver-warning", Finished: mssql},
		{name: "oracle-failed", Finished: oracle},
		{name: "error", Finished: errored},
		{name: "timed-out", Finished: timedOut},
		{name: "unknown-item", Finished: unknown},
		{name: "truncated-200-instances", Finished: many, truncated: true},
	}
}

// golden compares got with testdata/name, or rewrites it under -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./notify -run %s -update to create it)", err, t.Name())
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the rendering; run with -update if the change is intended.\n--- got ---\n%s", path, got)
	}
}

// slackWire is the Slack message as chat.postMessage receives it.
func slackWire(t *testing.T, c SlackContent) []byte {
	t.Helper()
	type attachment struct {
		Color  string        `json:"color"`
		Blocks []slack.Block `json:"blocks"`
	}
	msg := struct {
		Text        string        `json:"text"`
		Blocks      []slack.Block `json:"blocks"`
		Attachments []attachment  `json:"attachments,omitempty"`
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

func goldenMessage(t *testing.T, name string, m Message) {
	t.Helper()
	golden(t, name+".slack.json", slackWire(t, m.Slack))
	golden(t, name+".slack.txt", []byte(SlackText(m.Slack)))
	dt := fmt.Sprintf("title: %s\natMobiles: %v\natUserIds: %v\n---\n%s\n", m.DingTalk.Title, m.DingTalk.AtMobiles, m.DingTalk.AtUserIds, m.DingTalk.Text)
	golden(t, name+".dingtalk.md", []byte(dt))
}

func checkLimits(t *testing.T, m Message) {
	t.Helper()
	if err := CheckSlackLimits(m.Slack); err != nil {
		t.Errorf("Slack limits: %v", err)
	}
	if err := CheckDingTalkLimits(m.DingTalk); err != nil {
		t.Errorf("DingTalk limits: %v", err)
	}
}

func TestRenderVerdictGolden(t *testing.T) {
	for _, f := range fixtures(t) {
		t.Run(f.name, func(t *testing.T) {
			m := RenderVerdict(f.Task, f.Outcome, testOpts)
			checkLimits(t, m)
			goldenMessage(t, f.name, m)
		})
	}
}

func TestRenderDigestGolden(t *testing.T) {
	var all []Finished
	for _, f := range fixtures(t) {
		if !f.truncated {
			all = append(all, f.Finished)
		}
	}
	m := RenderDigest(all, testOpts)
	checkLimits(t, m)
	goldenMessage(t, "digest-mixed", m)
}

func TestRenderStartedAndOperatorAlertGolden(t *testing.T) {
	started := RenderStarted(precheck.Task{TaskID: "t-000bc9nqwxsbyvod0001", UniRegionID: "cn-hangzhou",
		InstanceUUID: "ebc895506c6911ed800000163e0e0001", DatabaseType: "MYSQL", Label: "orders-db prod"})
	alert := RenderOperatorAlert("Security Center denied QueryPreCheckDatabase (NoPermission)",
		"Grant the function's role yundun-sas:QueryPreCheckDatabase (policy AliyunYundunSASReadOnlyAccess), then wait for the next sweep.", 12)
	for name, m := range map[string]Message{"started": started, "operator-alert": alert} {
		t.Run(name, func(t *testing.T) {
			checkLimits(t, m)
			if strings.Contains(SlackText(m.Slack), "S123") || len(m.DingTalk.AtMobiles)+len(m.DingTalk.AtUserIds) > 0 || m.DingTalk.AtAll {
				t.Error("mentions someone")
			}
			goldenMessage(t, name, m)
		})
	}
	if !strings.Contains(alert.Slack.Text, "12 tasks stay queued") || !strings.Contains(alert.DingTalk.Text, "12 tasks stay queued") {
		t.Errorf("alert does not say the tasks stay queued:\n%s\n%s", alert.Slack.Text, alert.DingTalk.Text)
	}
}

// slackAll is every text of a Slack message, mrkdwn unescaped.
func slackAll(c SlackContent) string { return plainSlack(c.Text) + "\n" + SlackText(c) }

func TestMentionOnlyWhenNotPassed(t *testing.T) {
	check := func(t *testing.T, m Message, wantMention bool) {
		t.Helper()
		for what, s := range map[string]string{"Slack text": m.Slack.Text, "Slack blocks": string(slackWire(t, SlackContent{Text: "-", Blocks: m.Slack.Blocks}))} {
			if got := strings.Contains(s, testOpts.SlackMention); got != wantMention {
				t.Errorf("%s mentions on-call: %v, want %v", what, got, wantMention)
			}
		}
		gotAt := len(m.DingTalk.AtMobiles) == 1 && len(m.DingTalk.AtUserIds) == 1
		gotText := strings.Contains(m.DingTalk.Text, "@13800000000") && strings.Contains(m.DingTalk.Text, "@oncall-dba")
		if gotAt != wantMention || gotText != wantMention {
			t.Errorf("DingTalk at field %v, @ in text %v, want %v", gotAt, gotText, wantMention)
		}
		if !wantMention && (strings.Contains(m.DingTalk.Text, "@13800000000") || len(m.DingTalk.AtMobiles)+len(m.DingTalk.AtUserIds) > 0) {
			t.Error("DingTalk mentions someone on a pass")
		}
	}
	var all, passed []Finished
	for _, f := range fixtures(t) {
		t.Run(f.name, func(t *testing.T) {
			check(t, RenderVerdict(f.Task, f.Outcome, testOpts), f.Outcome.Verdict != precheck.Passed)
		})
		all = append(all, f.Finished)
		if f.Outcome.Verdict == precheck.Passed {
			passed = append(passed, f.Finished, f.Finished)
		}
	}
	t.Run("digest with failures", func(t *testing.T) { check(t, RenderDigest(all, testOpts), true) })
	t.Run("digest all passed", func(t *testing.T) { check(t, RenderDigest(passed, testOpts), false) })
	t.Run("no mention configured", func(t *testing.T) {
		f := fixtures(t)[2]
		m := RenderVerdict(f.Task, f.Outcome, RenderOptions{})
		checkLimits(t, m)
		if strings.Contains(m.DingTalk.Text, "@") || strings.HasPrefix(m.Slack.Text, " ") {
			t.Errorf("stray mention markup:\n%s\n%s", m.Slack.Text, m.DingTalk.Text)
		}
	})
}

var (
	moreInstancesRe = regexp.MustCompile(`…and (\d+) more instances?\*{0,2} \((\d+) checks?: (\d+) failed`)
	moreTasksRe     = regexp.MustCompile(`…and (\d+) more tasks?`)
)

// TestEveryInstanceAndItemNamed checks SPEC §6: a final message names the
// task id, every instance id and source type, and every item's code and raw
// result, or counts what it leaves out in "…and N more".
func TestEveryInstanceAndItemNamed(t *testing.T) {
	for _, f := range fixtures(t) {
		t.Run(f.name, func(t *testing.T) {
			m := RenderVerdict(f.Task, f.Outcome, testOpts)
			for channel, text := range map[string]string{"Slack": slackAll(m.Slack), "DingTalk": m.DingTalk.Text} {
				if !strings.Contains(text, f.Task.TaskID) {
					t.Errorf("%s: task id %s missing", channel, f.Task.TaskID)
				}
				shown, failedShown := 0, 0
				for _, in := range f.Outcome.Instances {
					if !strings.Contains(text, in.InstanceID) {
						continue
					}
					shown++
					if in.Worst() == precheck.Fail {
						failedShown++
					}
					if !strings.Contains(text, in.SourceType) {
						t.Errorf("%s: source type %s of %s missing", channel, in.SourceType, in.InstanceID)
					}
					for _, it := range in.Items {
						if !strings.Contains(text, it.Code) || !strings.Contains(text, it.Raw) {
							t.Errorf("%s: %s: item %s → %s missing", channel, in.InstanceID, it.Code, it.Raw)
						}
					}
				}
				more := moreInstancesRe.FindStringSubmatch(text)
				if !f.truncated {
					if more != nil || shown != len(f.Outcome.Instances) {
						t.Errorf("%s: shows %d of %d instances (note %q)", channel, shown, len(f.Outcome.Instances), more)
					}
					continue
				}
				if more == nil {
					t.Fatalf("%s: truncated message has no \"…and N more\" line", channel)
				}
				omitted, _ := strconv.Atoi(more[1])
				if shown+omitted != len(f.Outcome.Instances) {
					t.Errorf("%s: %d instances shown + %d counted ≠ %d", channel, shown, omitted, len(f.Outcome.Instances))
				}
				if failedShown != 2 {
					t.Errorf("%s: %d failing instances shown, want both (worst first)", channel, failedShown)
				}
				if more[3] != "0" {
					t.Errorf("%s: the note counts %s failures left out, want 0", channel, more[3])
				}
			}
		})
	}
}

func TestNonPassingItemsCarryHints(t *testing.T) {
	for _, f := range fixtures(t) {
		m := RenderVerdict(f.Task, f.Outcome, testOpts)
		for _, in := range f.Outcome.Instances {
			for _, it := range in.Items {
				if it.Level == precheck.Pass || it.Hint == "" {
					continue
				}
				hint := strings.SplitN(it.Hint, "`", 2)[0] // catalogue prose before any code span
				if !strings.Contains(plainSlack(slackAll(m.Slack)), hint) || !strings.Contains(m.DingTalk.Text, hint) {
					t.Errorf("%s: hint for %s missing", f.name, it.Code)
				}
			}
		}
	}
}

func TestEscapesUserData(t *testing.T) {
	task := precheck.Task{
		TaskID: "t-<b>x</b>", UniRegionID: "cn-hangzhou",
		Label: "<script>alert(1)</script> & <!channel> *bold* [x](http://evil)\nsecond line",
	}
	f := completed(t, task, "["+instanceJSON("i-`tick`<img>", "<b>MYSQL</b>", 1795744800, "MYSQL_BINLOG", "<i>OFF</i> & more")+"]")
	m := RenderVerdict(f.Task, f.Outcome, RenderOptions{})
	checkLimits(t, m)

	mrkdwn := []string{m.Slack.Text}
	for _, b := range append(append([]slack.Block(nil), m.Slack.Blocks...), m.Slack.Detail...) {
		switch b := b.(type) {
		case *slack.SectionBlock:
			mrkdwn = append(mrkdwn, b.Text.Text)
		case *slack.ContextBlock:
			for _, el := range b.ContextElements.Elements {
				mrkdwn = append(mrkdwn, el.(*slack.TextBlockObject).Text)
			}
		}
	}
	for _, s := range mrkdwn {
		for _, bad := range []string{"<script>", "<!channel>", "<b>", "<i>", "<img>", " & "} {
			if strings.Contains(s, bad) {
				t.Errorf("Slack mrkdwn carries %q unescaped: %s", bad, s)
			}
		}
	}
	all := strings.Join(mrkdwn, "\n")
	for _, want := range []string{"&lt;script&gt;", "&lt;!channel&gt;", "&amp;", "`i-'tick'&lt;img&gt;`"} {
		if !strings.Contains(all, want) {
			t.Errorf("Slack mrkdwn lacks %q", want)
		}
	}
	for _, bad := range []string{"<script>", "<b>", "<i>", "<img>", "[x](http://evil)", "*bold*", "\nsecond line"} {
		if strings.Contains(m.DingTalk.Text, bad) {
			t.Errorf("DingTalk markdown carries %q unescaped", bad)
		}
	}
	if h := m.Slack.Blocks[0].(*slack.HeaderBlock).Text.Text; strings.Contains(h, "\n") {
		t.Errorf("header spans lines: %q", h)
	}
}

func TestLimitsHoldUnderStress(t *testing.T) {
	huge := strings.Repeat("x", 10000)
	var allFailing []string
	for i := range 120 {
		allFailing = append(allFailing, instanceJSON(fmt.Sprintf("i-%03d-%s", i, strings.Repeat("z", 200)), "ORACLE", 1795744800,
			"ARCHIVELOG", "NOT_ARCHIVELOG", "ORACLE_DB_STATUS", "MOUNTED", fmt.Sprintf("NEW_CHECK_%d", i), strings.Repeat("Ü", 300)))
	}
	var manyItems []string
	for i := range 600 {
		manyItems = append(manyItems, fmt.Sprintf("CHECK_%03d", i), []string{"PASSED", "WARNING", "BROKEN"}[i%3])
	}
	cases := []struct {
		name string
		f    Finished
	}{
		{"200 instances", completed(t, precheck.Task{TaskID: "t-1", UniRegionID: "cn-hangzhou"}, manyMySQL(200, 3, 99, 198))},
		{"120 failing instances", completed(t, precheck.Task{TaskID: "t-2", UniRegionID: "cn-hangzhou", Label: "漢字ラベル"}, "["+strings.Join(allFailing, ",")+"]")},
		{"one instance, 600 items", completed(t, precheck.Task{TaskID: "t-3", UniRegionID: "cn-hangzhou"}, "["+instanceJSON("i-1", "MSSQL", 0, manyItems...)+"]")},
		{"10k-character fields", completed(t, precheck.Task{TaskID: huge, UniRegionID: huge, InstanceUUID: huge, Label: huge}, "["+instanceJSON(huge, huge, 0, huge, huge)+"]")},
		{"escapes that grow", decided(t, precheck.Task{TaskID: "t-7", UniRegionID: "cn-hangzhou", Label: strings.Repeat("&", 300)},
			precheck.Status{Progress: 100, Description: precheck.DescCompleted, Result: strings.Repeat("<", 3000)}, decidedAt, 1)},
		{"no instances", completed(t, precheck.Task{TaskID: "t-5", UniRegionID: "cn-hangzhou"}, "[]")},
		{"invalid UTF-8 and control", completed(t, precheck.Task{TaskID: "t-6\xff", UniRegionID: "cn\x00"}, "["+instanceJSON("i-\u0007", "MYSQL", 0, "A\u202e", "\xfe")+"]")},
	}
	var all []Finished
	for _, c := range cases {
		f := c.f
		t.Run(c.name, func(t *testing.T) {
			for _, opts := range []RenderOptions{testOpts, {ConsoleURL: "javascript:alert(1)"}, {ConsoleURL: "https://example.com/" + huge}} {
				m := RenderVerdict(f.Task, f.Outcome, opts)
				checkLimits(t, m)
				if strings.Contains(slackAll(m.Slack), "javascript:") || strings.Contains(m.DingTalk.Text, "javascript:") {
					t.Error("a non-http console URL is linked")
				}
			}
		})
		for range 40 {
			all = append(all, f)
		}
	}
	t.Run("600 items counted", func(t *testing.T) {
		m := RenderVerdict(cases[2].f.Task, cases[2].f.Outcome, testOpts)
		for channel, text := range map[string]string{"Slack": slackAll(m.Slack), "DingTalk": m.DingTalk.Text} {
			more := regexp.MustCompile(`…and (\d+) more checks on this instance`).FindStringSubmatch(text)
			if more == nil {
				t.Fatalf("%s: no \"…and N more checks\" line", channel)
			}
			omitted, _ := strconv.Atoi(more[1])
			if shown := len(regexp.MustCompile(`CHECK_\d{3}`).FindAllString(text, -1)); shown+omitted != 600 {
				t.Errorf("%s: %d items shown + %d counted ≠ 600", channel, shown, omitted)
			}
		}
	})
	t.Run("digest of 240 tasks", func(t *testing.T) {
		m := RenderDigest(all, testOpts)
		checkLimits(t, m)
		for channel, text := range map[string]string{"Slack": slackAll(m.Slack), "DingTalk": m.DingTalk.Text} {
			more := moreTasksRe.FindStringSubmatch(text)
			if more == nil {
				t.Fatalf("%s: no \"…and N more tasks\" line", channel)
			}
			omitted, _ := strconv.Atoi(more[1])
			shown := strings.Count(text, "· task ")
			if shown+omitted != len(all) {
				t.Errorf("%s: %d tasks shown + %d counted ≠ %d", channel, shown, omitted, len(all))
			}
		}
	})
	t.Run("digest pages of 240 tasks", func(t *testing.T) {
		pages := RenderDigestPages(all, testOpts)
		if len(pages) < 2 {
			t.Fatalf("%d pages for 240 tasks", len(pages))
		}
		seen, lastRank := 0, 99
		for i, p := range pages {
			checkLimits(t, p.Message)
			if want := fmt.Sprintf("(%d/%d)", i+1, len(pages)); !strings.Contains(p.Message.Slack.Text, want) || !strings.Contains(p.Message.DingTalk.Title, want) {
				t.Errorf("page %d is not marked %s", i+1, want)
			}
			for channel, text := range map[string]string{"Slack": slackAll(p.Message.Slack), "DingTalk": p.Message.DingTalk.Text} {
				if moreTasksRe.MatchString(text) {
					t.Errorf("page %d leaves tasks out on %s", i+1, channel)
				}
				if n := strings.Count(text, "· task "); n != len(p.Tasks) {
					t.Errorf("page %d shows %d tasks on %s, holds %d", i+1, n, channel, len(p.Tasks))
				}
			}
			for _, f := range p.Tasks {
				if r := verdictRank(f.Outcome.Verdict); r > lastRank {
					t.Errorf("page %d: %s after a less severe task", i+1, f.Outcome.Verdict)
				} else {
					lastRank = r
				}
			}
			seen += len(p.Tasks)
		}
		if seen != len(all) {
			t.Errorf("pages hold %d tasks, want %d", seen, len(all))
		}
	})
	t.Run("one digest page", func(t *testing.T) {
		var small []Finished
		for _, f := range fixtures(t)[:3] {
			small = append(small, f.Finished)
		}
		pages := RenderDigestPages(small, testOpts)
		if len(pages) != 1 || len(pages[0].Tasks) != 3 || strings.Contains(pages[0].Message.Slack.Text, "(1/1)") {
			t.Fatalf("3 small tasks give %d pages", len(pages))
		}
		if got, want := slackWire(t, pages[0].Message.Slack), slackWire(t, RenderDigest(small, testOpts).Slack); !bytes.Equal(got, want) {
			t.Error("a single page differs from RenderDigest")
		}
	})
	t.Run("empty digest", func(t *testing.T) {
		checkLimits(t, RenderDigest(nil, testOpts))
		if pages := RenderDigestPages(nil, testOpts); len(pages) != 0 {
			t.Errorf("%d pages for no task", len(pages))
		}
	})
	t.Run("operator alert with huge detail", func(t *testing.T) {
		checkLimits(t, RenderOperatorAlert(huge, huge, -1))
		checkLimits(t, RenderOperatorAlert(strings.Repeat("<", 3000), strings.Repeat("&", 3000), 1))
		checkLimits(t, RenderStarted(precheck.Task{TaskID: huge, UniRegionID: huge, Label: huge}))
	})
}

func TestDigestOrdersWorstFirst(t *testing.T) {
	var all []Finished
	for _, f := range fixtures(t) {
		if !f.truncated {
			all = append(all, f.Finished)
		}
	}
	m := RenderDigest(all, testOpts)
	for channel, text := range map[string]string{"Slack": SlackText(m.Slack), "DingTalk": m.DingTalk.Text} {
		order := []string{"erp-oracle", "analytics-mysql", "inventory-db", "TIMED_OUT · SQL Server", "billing-sqlserver", "orders-db prod"}
		last := -1
		for _, name := range order {
			at := strings.Index(text, name)
			if at < 0 || at < last {
				t.Errorf("%s: %s is out of order (worst first: %v)", channel, name, order)
			}
			last = at
		}
		if !strings.Contains(text, "❌ FAILED 2 · 🛑 ERROR 1 · ⏱️ TIMED_OUT 1 · ⚠️ WARNING 1 · ✅ PASSED 1") {
			t.Errorf("%s: no per-verdict count line", channel)
		}
	}
	if m.Slack.Color != "danger" {
		t.Errorf("colour %q, want danger", m.Slack.Color)
	}
}

func TestColourPerVerdict(t *testing.T) {
	want := map[string]string{"mysql-passed": "good", "sqlserver-warning": "warning", "oracle-failed": "danger", "error": "danger", "timed-out": "danger"}
	for _, f := range fixtures(t) {
		if c, ok := want[f.name]; ok {
			if got := RenderVerdict(f.Task, f.Outcome, testOpts).Slack.Color; got != c {
				t.Errorf("%s: colour %q, want %q", f.name, got, c)
			}
		}
	}
}

// TestValidatorsCatchBrokenMessages proves the validators can fail: each
// case breaks one limit.
func TestValidatorsCatchBrokenMessages(t *testing.T) {
	section := func(n int) slack.Block { return sectionBlock(strings.Repeat("a", n)) }
	many := func(n int, b func() slack.Block) []slack.Block {
		var out []slack.Block
		for range n {
			out = append(out, b())
		}
		return out
	}
	slackCases := map[string]SlackContent{
		"51 blocks":            {Text: "t", Blocks: many(26, func() slack.Block { return section(1) }), Color: "good", Detail: many(25, func() slack.Block { return section(1) })},
		"3001-character text":  {Text: "t", Blocks: []slack.Block{section(3001)}},
		"151-character header": {Text: "t", Blocks: []slack.Block{slack.NewHeaderBlock(slack.NewTextBlockObject(slack.PlainTextType, strings.Repeat("h", 151), false, false))}},
		"12001 in all":         {Text: "t", Blocks: many(5, func() slack.Block { return section(2401) })},
		"detail, no colour":    {Text: "t", Detail: []slack.Block{section(1)}},
		"bad colour":           {Text: "t", Color: "red", Detail: []slack.Block{section(1)}},
		"no fallback text":     {Blocks: []slack.Block{section(1)}},
		"unchecked block":      {Text: "t", Blocks: []slack.Block{slack.NewImageBlock("https://x/y.png", "alt", "", nil)}},
		"duplicate block ids":  {Text: "t", Blocks: []slack.Block{&slack.DividerBlock{Type: slack.MBTDivider, BlockID: "a"}, &slack.DividerBlock{Type: slack.MBTDivider, BlockID: "a"}}},
		"mrkdwn header":        {Text: "t", Blocks: []slack.Block{slack.NewHeaderBlock(slack.NewTextBlockObject(slack.MarkdownType, "h", false, false))}},
		"empty section":        {Text: "t", Blocks: []slack.Block{sectionBlock("")}},
	}
	for name, c := range slackCases {
		if err := CheckSlackLimits(c); err == nil {
			t.Errorf("CheckSlackLimits accepts %s", name)
		}
	}
	if err := CheckSlackLimits(SlackContent{Text: "t", Blocks: many(50, func() slack.Block { return section(240) })}); err != nil {
		t.Errorf("CheckSlackLimits refuses a message at the limits: %v", err)
	}
	dingCases := map[string]DingTalkContent{
		"15001 bytes":        {Title: "t", Text: strings.Repeat("a", DingTalkMaxTextBytes+1)},
		"5001 CJK runes":     {Title: "t", Text: strings.Repeat("漢", 5001)},
		"@ not in text":      {Title: "t", Text: "x", AtMobiles: []string{"13800000000"}},
		"user @ not in text": {Title: "t", Text: "@13800000000", AtMobiles: []string{"13800000000"}, AtUserIds: []string{"u1"}},
		"no title":           {Text: "x"},
		"invalid UTF-8":      {Title: "t", Text: "\xff"},
	}
	for name, c := range dingCases {
		if err := CheckDingTalkLimits(c); err == nil {
			t.Errorf("CheckDingTalkLimits accepts %s", name)
		}
	}
	if err := CheckDingTalkLimits(DingTalkContent{Title: "t", Text: strings.Repeat("a", DingTalkMaxTextBytes)}); err != nil {
		t.Errorf("CheckDingTalkLimits refuses a message at the limit: %v", err)
	}
}

func BenchmarkRenderVerdict(b *testing.B) {
	fs := fixtures(b)
	for _, f := range []fixture{fs[2], fs[6]} {
		b.Run(f.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				RenderVerdict(f.Task, f.Outcome, testOpts)
			}
		})
	}
}

// FuzzRenderVerdict feeds arbitrary user data and sizes to the renderer:
// it must never panic, and every message must keep both channels' limits.
func FuzzRenderVerdict(f *testing.F) {
	f.Add("orders-db prod", "i-bp1orders0001", "MYSQL", "MYSQL_BINLOG", "PASSED", uint8(1), uint8(4))
	f.Add("<script>&", "i-`x`", "MSSQL", "SQL_SERVER_DB_IN_SIMPLE_RECOVERY_MODE", "WARNING", uint8(200), uint8(4))
	f.Add(strings.Repeat("漢", 400), "\xff\x00", "", "", "", uint8(3), uint8(255))
	f.Fuzz(func(t *testing.T, label, id, source, code, raw string, instances, items uint8) {
		var ins []precheck.Instance
		for i := range int(instances) {
			in := precheck.Instance{InstanceID: fmt.Sprintf("%s-%d", id, i), SourceType: source, CheckTime: firstSeen}
			for j := range int(items) {
				r := raw
				if (i+j)%3 == 0 {
					r = "PASSED"
				}
				in.Items = append(in.Items, precheck.NewItem(fmt.Sprintf("%s_%d", code, j), r))
			}
			ins = append(ins, in)
		}
		task := precheck.Task{TaskID: "t-" + id, UniRegionID: source, Label: label}
		o := precheck.Outcome{Verdict: precheck.Failed, Instances: ins, Reason: label, FirstSeen: firstSeen.UnixMilli(), DecidedAt: decidedAt.UnixMilli()}
		for _, m := range []Message{
			RenderVerdict(task, o, testOpts),
			RenderDigest([]Finished{{task, o}, {task, precheck.Outcome{Verdict: precheck.Verdict(raw)}}}, testOpts),
			RenderStarted(task),
			RenderOperatorAlert(label, raw, int(items)),
		} {
			if err := CheckSlackLimits(m.Slack); err != nil {
				t.Fatalf("Slack limits: %v", err)
			}
			if err := CheckDingTalkLimits(m.DingTalk); err != nil {
				t.Fatalf("DingTalk limits: %v", err)
			}
		}
	})
}
