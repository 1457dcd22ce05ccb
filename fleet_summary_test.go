package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"precheckwatch/internal/redistest"
	"precheckwatch/ledger"
	"precheckwatch/localcloud/securitycenter"
	"precheckwatch/precheck"
)

// fleetRig is a rig sharing its Redis delivery record with the test, which
// plans and starts fleet runs in it as the fleet command does.
type fleetRig struct {
	*testRig
	record ledger.Ledger
}

func newFleetRig(t *testing.T, overrides ...[2]string) *fleetRig {
	t.Helper()
	redis := redistest.Run(t)
	record, err := ledger.Open(redis.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { record.Close() })
	env := append([][2]string{
		{"DEDUPE_URL", redis.URL}, {"BACKOFF_INITIAL", "200ms"}, {"BACKOFF_MAX", "1s"}, {"TASK_DEADLINE", "10m"},
		{"SAS_RATE_LIMIT", "200"},
	}, overrides...)
	return &fleetRig{testRig: startRig(t, rigConfig{env: env, timeout: 20 * time.Second}), record: record}
}

// startRun plans run over databases db-0 … db-(n-1), starts each member's
// precheck (binlog as binlog says for member i) and enqueues its task.
func (f *fleetRig) startRun(id string, n int, binlog func(i int) string) {
	t := f.t
	t.Helper()
	ctx := context.Background()
	plan := ledger.Run{ID: id, Fleet: "regions cn-hangzhou; types MYSQL"}
	for i := range n {
		plan.Members = append(plan.Members, ledger.Member{Database: fmt.Sprintf("cn-hangzhou/agent-%d/MYSQL", i), Name: fmt.Sprintf("db-%02d", i),
			DatabaseType: "MYSQL", UniRegionID: "cn-hangzhou", InstanceUUID: fmt.Sprintf("agent-%d", i)})
	}
	if _, err := f.record.PlanRun(ctx, plan); err != nil {
		t.Fatal(err)
	}
	for i, m := range plan.Members {
		c, err := f.record.ClaimStart(ctx, id, m.Database, time.Minute)
		if err != nil || c.State != ledger.StartClaimed {
			t.Fatalf("start of %s: %+v, %v", m.Database, c, err)
		}
		task := precheck.Task{TaskID: fmt.Sprintf("t-%s-%02d", id, i), UniRegionID: m.UniRegionID, InstanceUUID: m.InstanceUUID,
			DatabaseType: m.DatabaseType, Label: m.Name, Run: id}
		if err := f.record.NoteStarted(ctx, c.Lease, task.TaskID); err != nil {
			t.Fatal(err)
		}
		f.seed(task, securitycenter.Task{Polls: []int{0, 100}, Result: securitycenter.ResultJSON(
			securitycenter.Check("MYSQL", "i-"+m.Name, time.Now(), map[string]string{"MYSQL_BINLOG": binlog(i), "MYSQL_VERSION": "PASSED"}))})
	}
}

// waitSummaries waits until each channel shows n summaries.
func (f *fleetRig) waitSummaries(n int) map[string][]string {
	f.t.Helper()
	var msgs map[string][]string
	f.until(60*time.Second, fmt.Sprintf("%d summaries on every channel", n), func() bool {
		msgs = f.Texts()
		done := len(msgs) == 3
		for _, texts := range msgs {
			count := 0
			for _, s := range texts {
				if strings.Contains(s, "Fleet precheck") {
					count++
				}
			}
			done = done && count >= n
		}
		return done
	}, nil)
	return msgs
}

// With NOTIFY_MODE=changes a fleet run posts one summary per channel, and
// of its tasks only those whose verdict is new and not PASSED, or changed;
// an unchanged fleet's next run is exactly one message per channel.
func TestFleetRunSummaryOnceAndOnlyChanges(t *testing.T) {
	f := newFleetRig(t, [2]string{"NOTIFY_MODE", "changes"})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f.stream(ctx)
	const n = 12
	failing := func(i int) string {
		if i == 3 {
			return "FAILED"
		}
		return "PASSED"
	}
	f.startRun("fleet-run-1", n, failing)
	first := f.waitSummaries(1)
	for ch, texts := range first {
		// The first run: db-03 is new and failing, so it is posted; the
		// new passing databases are in the summary only.
		if len(texts) != 2 || !strings.Contains(texts[0]+texts[1], "db-03") {
			t.Errorf("%s: %d messages after the first run, want db-03's verdict and the summary:\n%s", ch, len(texts), strings.Join(texts, "\n---\n"))
		}
	}
	f.startRun("fleet-run-2", n, failing)
	second := f.waitSummaries(2)
	for ch, texts := range second {
		if len(texts) != 3 {
			t.Errorf("%s: %d messages after the unchanged run, want one more (its summary):\n%s", ch, len(texts), strings.Join(texts, "\n---\n"))
			continue
		}
		s := texts[2]
		for _, want := range []string{"Fleet precheck", "1 of 12 databases not ready", "No database changed", "db-03", "Ready (11)"} {
			if !strings.Contains(s, want) {
				t.Errorf("%s: the second summary lacks %q:\n%s", ch, want, s)
			}
		}
	}
	assertNoSecrets(t, f.Output.String())
}

// With NOTIFY_MODE=changes a verdict that changed is posted on its own,
// mentioning the on-call team on every channel only when it changed for
// the worse.
func TestFleetChangeMentionsOnlyWhenWorse(t *testing.T) {
	mentions := map[string]string{"slack": "S0ONCALL", "dingtalk": "13800000000", "feishu": "ou_oncall"}
	f := newFleetRig(t, [2]string{"NOTIFY_MODE", "changes"}, [2]string{"SLACK_MENTION", "<!subteam^" + mentions["slack"] + ">"},
		[2]string{"DINGTALK_AT_MOBILES", mentions["dingtalk"]}, [2]string{"FEISHU_AT_USER_IDS", mentions["feishu"]})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f.stream(ctx)
	verdicts := func(vs ...string) func(int) string { return func(i int) string { return vs[i] } }
	// db-00 gets better but is still not ready, db-01 gets worse, db-02
	// stays as it was.
	f.startRun("fleet-run-1", 3, verdicts("FAILED", "PASSED", "WARNING"))
	before := f.waitSummaries(1)
	f.startRun("fleet-run-2", 3, verdicts("WARNING", "FAILED", "WARNING"))
	after := f.waitSummaries(2)
	for ch, texts := range after {
		posts := map[string]string{}
		for _, s := range texts[len(before[ch]):] {
			for _, db := range []string{"db-00", "db-01", "db-02"} {
				if strings.Contains(s, db) && !strings.Contains(s, "Fleet precheck") {
					posts[db] += s
				}
			}
		}
		tests := []struct {
			db           string
			posted, loud bool
		}{
			{"db-00", true, false},
			{"db-01", true, true},
			{"db-02", false, false},
		}
		for _, tt := range tests {
			post, posted := posts[tt.db]
			if loud := strings.Contains(post, mentions[ch]); posted != tt.posted || loud != tt.loud {
				t.Errorf("%s: %s posted %v, mentioning on-call %v; want %v, %v:\n%s", ch, tt.db, posted, loud, tt.posted, tt.loud, post)
			}
		}
	}
}
