package notifytest

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"precheckwatch/notify"
	"precheckwatch/notify/sample"
	"precheckwatch/precheck"
)

var (
	moreChangesRe  = regexp.MustCompile(`…and (\d+) more changes?`)
	moreNotReadyRe = regexp.MustCompile(`…and (\d+) more not ready`)
	moreReadyRe    = regexp.MustCompile(`…and (\d+) more ready`)
	fleetNameRe    = regexp.MustCompile(`prod-mysql-\d{4}`)
)

// summaryConformance runs the tests every channel's summary must pass:
// one message within the channel's limits however big or strange the
// fleet, every database named or counted in its list, not-ready before
// ready, the changes named, and nobody mentioned.
func summaryConformance(t *testing.T, ch Channel) {
	r := ch.Loud
	t.Run("limits", func(t *testing.T) {
		huge := strings.Repeat("<&`*_", 2000)
		hostile := LargeFleet(t, 300)
		for i := range hostile.Members {
			hostile.Members[i].Database = fmt.Sprintf("%s-%d-%s", huge, i, strings.Repeat("漢", i))
			hostile.Members[i].Task.TaskID = huge
		}
		hostile.Fleet = huge
		allFailing := LargeFleet(t, 500)
		for i := range allFailing.Members {
			allFailing.Members[i] = member(t, allFailing.Members[i].Database, i, "["+sample.InstanceJSON("i-"+strconv.Itoa(i), "MYSQL", 0,
				fmt.Sprintf("NEW_CHECK_%d", i), strings.Repeat("Ü", 300), "MYSQL_BINLOG", "FAILED")+"]")
		}
		for name, run := range map[string]notify.Run{
			"500": LargeFleet(t, 500), "2000": LargeFleet(t, 2000), "hostile": hostile, "500 failing": allFailing,
			"empty": {Fleet: "f", ID: "r"}, "first of 500": {Fleet: "f", ID: "r", Members: LargeFleet(t, 500).Members},
		} {
			t.Run(name, func(t *testing.T) { checked(t, r.Summary(run)) })
		}
	})
	t.Run("every database named or counted", func(t *testing.T) {
		for _, n := range []int{9, 500, 2000} {
			run := LargeFleet(t, n)
			t.Run(strconv.Itoa(n), func(t *testing.T) { everyDatabaseCounted(t, r.Summary(run).Content.Plain(), run) })
		}
	})
	t.Run("changes named", func(t *testing.T) {
		_, second := FleetRuns(t)
		text := r.Summary(second).Content.Plain()
		for _, want := range []string{
			"`orders-db`: PASSED → FAILED (`MYSQL_BINLOG`)", "`erp-oracle`: FAILED → PASSED", "`reports-db`: PASSED → ERROR",
			"`crm-db`: PASSED → NO VERDICT", "new `analytics-mysql`: ❌ FAILED (`MYSQL_GTID_MODE`)", "removed `legacy-db` (was ✅ PASSED)",
			"❌ FAILED 2 · 🛑 ERROR 1 · ⏳ NO VERDICT 1 · ⚠️ WARNING 1 · ✅ PASSED 4",
		} {
			if !strings.Contains(text, want) {
				t.Errorf("summary lacks %q:\n%s", want, text)
			}
		}
		if strings.Contains(text, "billing-sqlserver`: ") {
			t.Errorf("an unchanged database is listed as changed:\n%s", text)
		}
		first, _ := FleetRuns(t)
		if text := r.Summary(first).Content.Plain(); !strings.Contains(text, "first run") {
			t.Errorf("a first run does not say it has nothing to compare with:\n%s", text)
		}
	})
	t.Run("not ready first", func(t *testing.T) {
		_, second := FleetRuns(t)
		text := r.Summary(second).Content.Plain()
		order := []string{"Since the last run", "Not ready (5)", "FAILED · `analytics-mysql`", "FAILED · `orders-db`",
			"ERROR · `reports-db`", "NO VERDICT · `crm-db`", "WARNING · `billing-sqlserver`", "Ready (4):"}
		last := -1
		for _, s := range order {
			at := strings.Index(text, s)
			if at < last {
				t.Errorf("%q is missing or out of order (%v):\n%s", s, order, text)
			}
			last = at
		}
		if !strings.Contains(text, "SET RECOVERY FULL") || strings.Count(text, "binlog_format=ROW") != 1 {
			t.Errorf("fix hints are not shown once each:\n%s", text)
		}
	})
	t.Run("mentions nobody", func(t *testing.T) {
		_, second := FleetRuns(t)
		if ch.Mentions(r.Summary(second).Content) {
			t.Error("a summary mentions the on-call team")
		}
	})
}

// everyDatabaseCounted checks that each of run's lists names every
// database it holds or counts the rest in its "…and N more" line.
func everyDatabaseCounted(t *testing.T, text string, run notify.Run) {
	t.Helper()
	var notReady, ready int
	for _, m := range run.Members {
		if m.Outcome != nil && m.Outcome.Verdict == precheck.Passed {
			ready++
		} else {
			notReady++
		}
	}
	notReadyAt, readyAt := strings.Index(text, "Not ready ("), strings.Index(text, "Ready (")
	if notReadyAt < 0 || readyAt < notReadyAt {
		t.Fatalf("no not-ready list before the ready list:\n%s", text)
	}
	changes, notReadyText, readyText := text[:notReadyAt], text[notReadyAt:readyAt], text[readyAt:]
	count := func(what, list string, re *regexp.Regexp, names, want int) {
		t.Helper()
		more := 0
		if m := re.FindStringSubmatch(list); m != nil {
			more, _ = strconv.Atoi(m[1])
		}
		if names+more != want {
			t.Errorf("%s: %d named + %d counted ≠ %d", what, names, more, want)
		}
	}
	// Each database not ready is named on its heading line once.
	count("not ready", notReadyText, moreNotReadyRe, strings.Count(notReadyText, "· `prod-mysql-"), notReady)
	count("ready", readyText, moreReadyRe, len(fleetNameRe.FindAllString(readyText, -1)), ready)
	count("changes", changes, moreChangesRe, len(fleetNameRe.FindAllString(changes, -1))+strings.Count(changes, "`retired-mysql-"), notReady+5)
}
