package notifytest

import (
	"cmp"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"precheckwatch/notify"
	"precheckwatch/notify/sample"
	"precheckwatch/precheck"
)

// Channel is what the conformance tests need to know of a channel.
type Channel struct {
	// Loud renders with the on-call team's mention configured, Quiet with
	// none.
	Loud, Quiet notify.Renderer
	// Mentions reports whether content mentions the on-call team.
	Mentions func(c notify.Content) bool
}

var (
	moreInstancesRe = regexp.MustCompile(`…and (\d+) more instances?\*{0,2} \((\d+) checks?: (\d+) failed`)
	moreTasksRe     = regexp.MustCompile(`…and (\d+) more tasks?`)
)

// Conformance runs the tests every channel's renderer must pass: limits
// kept however big or strange the input, every instance and item named
// (SPEC §6) or counted, fix hints, mentions only when a verdict is not
// PASSED, digests worst first and pages that show every task they hold.
func Conformance(t *testing.T, ch Channel) {
	t.Run("mentions only when not passed", func(t *testing.T) { mentions(t, ch) })
	t.Run("mentions a change only when worse", func(t *testing.T) { changeMentions(t, ch) })
	t.Run("every instance and item named", func(t *testing.T) { everyItemNamed(t, ch.Loud) })
	t.Run("hints", func(t *testing.T) { hints(t, ch.Loud) })
	t.Run("next steps", func(t *testing.T) { nextSteps(t, ch.Loud) })
	t.Run("flagged databases named", func(t *testing.T) { flaggedNamed(t, ch.Loud) })
	t.Run("limits under stress", func(t *testing.T) { stress(t, ch.Loud) })
	t.Run("digest worst first", func(t *testing.T) { worstFirst(t, ch.Loud) })
	t.Run("every page shows every task it holds", func(t *testing.T) { pagesShowTheirTasks(t, ch.Loud) })
	t.Run("summary", func(t *testing.T) { summaryConformance(t, ch) })
}

func mentions(t *testing.T, ch Channel) {
	check := func(t *testing.T, m notify.Message, want bool) {
		t.Helper()
		checked(t, m)
		if got := ch.Mentions(m.Content); got != want {
			t.Errorf("mentions on-call: %v, want %v", got, want)
		}
	}
	var all, passed []notify.Finished
	for _, f := range Fixtures(t) {
		t.Run(f.Name, func(t *testing.T) {
			check(t, ch.Loud.Verdict(f.Task, f.Outcome), f.Outcome.Verdict != precheck.Passed)
			check(t, ch.Quiet.Verdict(f.Task, f.Outcome), false)
		})
		all = append(all, f.Finished)
		if f.Outcome.Verdict == precheck.Passed {
			passed = append(passed, f.Finished, f.Finished)
		}
	}
	t.Run("digest with failures", func(t *testing.T) { check(t, ch.Loud.Digest(all)[0].Message, true) })
	t.Run("digest all passed", func(t *testing.T) { check(t, ch.Loud.Digest(passed)[0].Message, false) })
	t.Run("started", func(t *testing.T) { check(t, ch.Loud.Started(sample.StartedTask), false) })
	t.Run("operator alert", func(t *testing.T) { check(t, ch.Loud.OperatorAlert(sample.OperatorAlert), false) })
}

// changeMentions: a verdict posted because it changed (Outcome.Previous
// set) mentions the on-call team only when it is worse in
// precheck.Verdict.Severity's order; without Previous, when not PASSED.
func changeMentions(t *testing.T, ch Channel) {
	byVerdict := map[precheck.Verdict]notify.Finished{}
	for _, f := range Fixtures(t) {
		if _, ok := byVerdict[f.Outcome.Verdict]; !ok {
			byVerdict[f.Outcome.Verdict] = f.Finished
		}
	}
	finished := func(t *testing.T, previous, v precheck.Verdict) notify.Finished {
		t.Helper()
		f, ok := byVerdict[v]
		if !ok {
			t.Fatalf("no fixture is %s", v)
		}
		f.Outcome.Previous = previous
		return f
	}
	tests := []struct {
		previous, verdict precheck.Verdict
		want              bool
	}{
		{"", precheck.Failed, true},
		{"", precheck.Warning, true},
		{"", precheck.Passed, false},
		{precheck.Passed, precheck.Warning, true},
		{precheck.Passed, precheck.Failed, true},
		{precheck.Warning, precheck.Failed, true},
		{precheck.Warning, precheck.TimedOut, true},
		{precheck.Failed, precheck.Warning, false},
		{precheck.Failed, precheck.Passed, false},
		{precheck.Warning, precheck.Passed, false},
		{precheck.Error, precheck.Failed, false},
		{precheck.Failed, precheck.Error, false},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s to %s", cmp.Or(tt.previous, "none"), tt.verdict), func(t *testing.T) {
			f := finished(t, tt.previous, tt.verdict)
			for _, m := range []notify.Message{ch.Loud.Verdict(f.Task, f.Outcome), ch.Loud.Digest([]notify.Finished{f})[0].Message} {
				checked(t, m)
				if got := ch.Mentions(m.Content); got != tt.want {
					t.Errorf("mentions on-call: %v, want %v:\n%s", got, tt.want, m.Content.Plain())
				}
			}
		})
	}
	t.Run("digest of a change for the better and one for the worse", func(t *testing.T) {
		better, worse := finished(t, precheck.Failed, precheck.Warning), finished(t, precheck.Passed, precheck.Warning)
		if m := ch.Loud.Digest([]notify.Finished{better, better})[0].Message; ch.Mentions(m.Content) {
			t.Error("a digest of changes for the better mentions on-call")
		}
		if m := ch.Loud.Digest([]notify.Finished{better, worse})[0].Message; !ch.Mentions(m.Content) {
			t.Error("a digest holding a change for the worse does not mention on-call")
		}
	})
}

func everyItemNamed(t *testing.T, r notify.Renderer) {
	for _, f := range Fixtures(t) {
		t.Run(f.Name, func(t *testing.T) {
			text := r.Verdict(f.Task, f.Outcome).Content.Plain()
			if !strings.Contains(text, f.Task.TaskID) {
				t.Errorf("task id %s missing", f.Task.TaskID)
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
					t.Errorf("source type %s of %s missing", in.SourceType, in.InstanceID)
				}
				for _, it := range in.Items {
					if !strings.Contains(text, it.Code) || !strings.Contains(text, it.Raw) {
						t.Errorf("%s: item %s → %s missing", in.InstanceID, it.Code, it.Raw)
					}
				}
			}
			more := moreInstancesRe.FindStringSubmatch(text)
			if !f.Truncated {
				if more != nil || shown != len(f.Outcome.Instances) {
					t.Errorf("shows %d of %d instances (note %q)", shown, len(f.Outcome.Instances), more)
				}
				return
			}
			if more == nil {
				t.Fatalf("truncated message has no \"…and N more\" line:\n%s", text)
			}
			omitted, _ := strconv.Atoi(more[1])
			if shown+omitted != len(f.Outcome.Instances) {
				t.Errorf("%d instances shown + %d counted ≠ %d", shown, omitted, len(f.Outcome.Instances))
			}
			if failedShown != 2 {
				t.Errorf("%d failing instances shown, want both (worst first)", failedShown)
			}
			if more[3] != "0" {
				t.Errorf("the note counts %s failures left out, want 0", more[3])
			}
		})
	}
}

func hints(t *testing.T, r notify.Renderer) {
	for _, f := range Fixtures(t) {
		text := r.Verdict(f.Task, f.Outcome).Content.Plain()
		for _, in := range f.Outcome.Instances {
			for _, it := range in.Items {
				if it.Level == precheck.Pass || it.Hint == "" {
					continue
				}
				if hint := strings.SplitN(it.Hint, "`", 2)[0]; !strings.Contains(text, hint) {
					t.Errorf("%s: hint for %s missing", f.Name, it.Code)
				}
			}
		}
	}
}

// nextSteps checks that a precheck that did not run to a verdict says what
// to check and how to run it again, and that one that did says neither.
func nextSteps(t *testing.T, r notify.Renderer) {
	for _, f := range Fixtures(t) {
		text := r.Verdict(f.Task, f.Outcome).Content.Plain()
		ranOut := f.Outcome.Verdict == precheck.Error || f.Outcome.Verdict == precheck.TimedOut
		command := "go run . start --database-type " + f.Task.DatabaseType
		if got := strings.Contains(text, command) && strings.Contains(text, "--region "+f.Task.UniRegionID) &&
			strings.Contains(text, "hybrid"); got != ranOut {
			t.Errorf("%s: next steps with %q shown: %v, want %v", f.Name, command, got, ranOut)
		}
	}
}

// flaggedNamed checks that the databases a Result names for an item are
// named beside it.
func flaggedNamed(t *testing.T, r notify.Renderer) {
	f := Completed(t, precheck.Task{TaskID: "t-flagged", UniRegionID: "cn-hangzhou", DatabaseType: "MSSQL"},
		`[{"instanceId":"i-1","sourceType":"MSSQL","results":[{"item":"SQL_SERVER_DB_IN_SIMPLE_RECOVERY_MODE","result":"WARNING","dbNames":["sales","hr_2024"]}]}]`)
	text := checked(t, r.Verdict(f.Task, f.Outcome)).Content.Plain()
	for _, db := range []string{"sales", "hr_2024"} {
		if !strings.Contains(text, db) {
			t.Errorf("flagged database %s is not named:\n%s", db, text)
		}
	}
}

func stress(t *testing.T, r notify.Renderer) {
	huge := strings.Repeat("x", 10000)
	var allFailing []string
	for i := range 120 {
		allFailing = append(allFailing, sample.InstanceJSON(fmt.Sprintf("i-%03d-%s", i, strings.Repeat("z", 200)), "ORACLE", 1795744800,
			"ARCHIVELOG", "NOT_ARCHIVELOG", "ORACLE_DB_STATUS", "MOUNTED", fmt.Sprintf("NEW_CHECK_%d", i), strings.Repeat("Ü", 300)))
	}
	var manyItems []string
	for i := range 600 {
		manyItems = append(manyItems, fmt.Sprintf("CHECK_%03d", i), []string{"PASSED", "WARNING", "BROKEN"}[i%3])
	}
	cases := []struct {
		name string
		f    notify.Finished
	}{
		{"200 instances", Completed(t, precheck.Task{TaskID: "t-1", UniRegionID: "cn-hangzhou"}, sample.ManyMySQL(200, 3, 99, 198))},
		{"120 failing instances", Completed(t, precheck.Task{TaskID: "t-2", UniRegionID: "cn-hangzhou", Label: "漢字ラベル"}, "["+strings.Join(allFailing, ",")+"]")},
		{"one instance, 600 items", Completed(t, precheck.Task{TaskID: "t-3", UniRegionID: "cn-hangzhou"}, "["+sample.InstanceJSON("i-1", "MSSQL", 0, manyItems...)+"]")},
		{"10k-character fields", Completed(t, precheck.Task{TaskID: huge, UniRegionID: huge, InstanceUUID: huge, Label: huge}, "["+sample.InstanceJSON(huge, huge, 0, huge, huge)+"]")},
		{"escapes that grow", Decided(t, precheck.Task{TaskID: "t-7", UniRegionID: "cn-hangzhou", Label: strings.Repeat("&", 300)},
			precheck.Status{Progress: 100, Description: precheck.DescCompleted, Result: strings.Repeat("<", 3000)}, sample.DecidedAt, 1)},
		{"no instances", Completed(t, precheck.Task{TaskID: "t-5", UniRegionID: "cn-hangzhou"}, "[]")},
		{"invalid UTF-8 and control", Completed(t, precheck.Task{TaskID: "t-6\xff", UniRegionID: "cn\x00"}, "["+sample.InstanceJSON("i-\u0007", "MYSQL", 0, "A\u202e", "\xfe")+"]")},
	}
	var all []notify.Finished
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { checked(t, r.Verdict(c.f.Task, c.f.Outcome)) })
		for range 40 {
			all = append(all, c.f)
		}
	}
	t.Run("600 items counted", func(t *testing.T) {
		text := r.Verdict(cases[2].f.Task, cases[2].f.Outcome).Content.Plain()
		more := regexp.MustCompile(`…and (\d+) more checks on this instance`).FindStringSubmatch(text)
		if more == nil {
			t.Fatal(`no "…and N more checks" line`)
		}
		omitted, _ := strconv.Atoi(more[1])
		if shown := len(regexp.MustCompile(`CHECK_\d{3}`).FindAllString(text, -1)); shown+omitted != 600 {
			t.Errorf("%d items shown + %d counted ≠ 600", shown, omitted)
		}
	})
	t.Run("digest pages of 280 tasks", func(t *testing.T) {
		pages := r.Digest(all)
		if len(pages) < 2 {
			t.Fatalf("%d pages for %d tasks", len(pages), len(all))
		}
		seen, lastRank := 0, 99
		for i, p := range pages {
			checked(t, p.Message)
			text := p.Message.Content.Plain()
			if want := fmt.Sprintf("(%d/%d)", i+1, len(pages)); !strings.Contains(text, want) {
				t.Errorf("page %d is not marked %s", i+1, want)
			}
			if moreTasksRe.MatchString(text) {
				t.Errorf("page %d leaves tasks out", i+1)
			}
			if n := strings.Count(text, "· task "); n != len(p.Tasks) {
				t.Errorf("page %d shows %d tasks, holds %d", i+1, n, len(p.Tasks))
			}
			for _, f := range p.Tasks {
				if r := notify.Severity(f.Outcome.Verdict); r > lastRank {
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
		small := Mixed(t)[:3]
		pages := r.Digest(small)
		if len(pages) != 1 || len(pages[0].Tasks) != 3 || strings.Contains(pages[0].Message.Content.Plain(), "(1/1)") {
			t.Fatalf("3 small tasks give %d pages", len(pages))
		}
	})
	t.Run("empty digest", func(t *testing.T) {
		if pages := r.Digest(nil); len(pages) != 0 {
			t.Errorf("%d pages for no task", len(pages))
		}
	})
	t.Run("operator alert and notice with huge fields", func(t *testing.T) {
		checked(t, r.OperatorAlert(notify.Alert{Cause: notify.ServiceDenied, Service: notify.Service(huge), Code: huge, Detail: huge, Affected: -1}))
		checked(t, r.OperatorAlert(notify.Alert{Cause: notify.ServiceDenied, Service: notify.Service(strings.Repeat("<", 3000)), Code: strings.Repeat("`", 3000), Detail: strings.Repeat("&", 3000), Affected: 1}))
		checked(t, r.Started(precheck.Task{TaskID: huge, UniRegionID: huge, Label: huge}))
	})
}

// pagesShowTheirTasks splits digests of every size up to a few pages, of
// small verdicts mixed with verdicts of 60 failing instances, and checks
// that each page names every task it holds: a task a page holds is
// recorded as delivered with it, so one left to the page's "…and N more"
// line would never be posted.
func pagesShowTheirTasks(t *testing.T, r notify.Renderer) {
	var failing []string
	for k := range 60 {
		failing = append(failing, sample.InstanceJSON(fmt.Sprintf("i-large-%02d", k), "MYSQL", 0, "MYSQL_DISK_SPACE", "NOT_ENOUGH"))
	}
	large := "[" + strings.Join(failing, ",") + "]"
	var all []notify.Finished
	for i := range 120 {
		result := "[" + sample.InstanceJSON(fmt.Sprintf("i-%03d", i), "MYSQL", 0, "MYSQL_BINLOG", "PASSED") + "]"
		if i%7 == 3 {
			result = large
		}
		all = append(all, Completed(t, precheck.Task{TaskID: fmt.Sprintf("chaos-%05d", i), UniRegionID: "cn-hangzhou"}, result))
	}
	for n := 1; n <= len(all); n++ {
		held := 0
		pages, split := r.Digest(all[:n]), r.Split(all[:n])
		if len(split) != len(pages) {
			t.Fatalf("%d tasks: Split makes %d pages, Digest %d", n, len(split), len(pages))
		}
		for i, p := range pages {
			if got, want := taskIDs(split[i]), taskIDs(p.Tasks); !slices.Equal(got, want) {
				t.Fatalf("%d tasks: Split puts %v on page %d, Digest %v", n, got, i+1, want)
			}
			text := p.Message.Content.Plain()
			for _, f := range p.Tasks {
				if !strings.Contains(text, f.Task.TaskID) {
					t.Fatalf("%d tasks: page %d holds %s but does not name it", n, i+1, f.Task.TaskID)
				}
			}
			held += len(p.Tasks)
		}
		if held != n {
			t.Fatalf("%d tasks: the pages hold %d", n, held)
		}
	}
}

func taskIDs(fs []notify.Finished) []string {
	ids := make([]string, len(fs))
	for i, f := range fs {
		ids[i] = f.Task.TaskID
	}
	return ids
}

func worstFirst(t *testing.T, r notify.Renderer) {
	text := r.Digest(Mixed(t))[0].Message.Content.Plain()
	order := []string{"erp-oracle", "analytics-mysql", "inventory-db", "TIMED_OUT · SQL Server", "billing-sqlserver", "orders-db prod"}
	last := -1
	for _, name := range order {
		at := strings.Index(text, name)
		if at < 0 || at < last {
			t.Errorf("%s is out of order (worst first: %v)", name, order)
		}
		last = at
	}
	if !strings.Contains(text, "❌ FAILED 2 · 🛑 ERROR 1 · ⏱️ TIMED_OUT 1 · ⚠️ WARNING 1 · ✅ PASSED 1") {
		t.Error("no per-verdict count line")
	}
}

// Fuzz feeds arbitrary user data and sizes to r: it must never panic, and
// every message must keep the channel's limits.
func Fuzz(f *testing.F, r notify.Renderer) {
	f.Add("orders-db prod", "i-bp1orders0001", "MYSQL", "MYSQL_BINLOG", "PASSED", uint8(1), uint8(4))
	f.Add("<script>&", "i-`x`", "MSSQL", "SQL_SERVER_DB_IN_SIMPLE_RECOVERY_MODE", "WARNING", uint8(200), uint8(4))
	f.Add(strings.Repeat("漢", 400), "\xff\x00", "", "", "", uint8(3), uint8(255))
	f.Fuzz(func(t *testing.T, label, id, source, code, raw string, instances, items uint8) {
		var ins []precheck.Instance
		for i := range int(instances) {
			in := precheck.Instance{InstanceID: fmt.Sprintf("%s-%d", id, i), SourceType: source, CheckTime: sample.FirstSeen}
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
		o := precheck.Outcome{Verdict: precheck.Failed, Instances: ins, Cause: precheck.Cause(code), Detail: label, FirstSeen: sample.FirstSeen.UnixMilli(), DecidedAt: sample.DecidedAt.UnixMilli()}
		messages := []notify.Message{r.Verdict(task, o), r.Started(task), r.OperatorAlert(notify.Alert{Cause: notify.AlertCause(items % 4), Service: notify.Service(label), Code: code, Detail: raw, Affected: int(items)})}
		for _, p := range r.Digest([]notify.Finished{{Task: task, Outcome: o}, {Task: task, Outcome: precheck.Outcome{Verdict: precheck.Verdict(raw)}}}) {
			messages = append(messages, p.Message)
		}
		for _, m := range messages {
			if err := m.Content.Check(); err != nil {
				t.Fatalf("limits: %v", err)
			}
		}
	})
}
