// Package notifytest holds what every channel's rendering tests share: the
// fixtures of their golden files, the golden-file check, and the
// conformance tests every Renderer must pass whatever its markup.
package notifytest

import (
	"bytes"
	"flag"
	"fmt"
	"html"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"precheckwatch/notify"
	"precheckwatch/precheck"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// The fixed clock of the fixtures: nothing in golden output depends on
// when tests run.
var (
	FirstSeen = time.Date(2026, 11, 27, 2, 0, 0, 0, time.UTC)
	DecidedAt = FirstSeen.Add(4*time.Minute + 12*time.Second)
	Policy    = precheck.Policy{BackoffInitial: 15 * time.Second, BackoffMax: 5 * time.Minute, Deadline: 2 * time.Hour}
)

// Golden compares got with testdata/name, or rewrites it under -update.
func Golden(t *testing.T, name string, got []byte) {
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
		t.Fatalf("%v (run go test -run %s -update to create it)", err, t.Name())
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the rendering; run with -update if the change is intended.\n--- got ---\n%s", path, got)
	}
}

// Mixed is every fixture small enough to show in full.
func Mixed(t testing.TB) []notify.Finished {
	var all []notify.Finished
	for _, f := range Fixtures(t) {
		if !f.Truncated {
			all = append(all, f.Finished)
		}
	}
	return all
}

// StartedTask is the task of the "precheck running" golden file.
var StartedTask = precheck.Task{TaskID: "t-000bc9nqwxsbyvod0001", UniRegionID: "cn-hangzhou",
	InstanceUUID: "ebc895506c6911ed800000163e0e0001", DatabaseType: "MYSQL", Label: "orders-db prod"}

// OperatorAlert is the alert of the operator-alert golden file.
var OperatorAlert = notify.Alert{
	Cause: notify.ServiceDenied, Service: notify.SecurityCenter, Code: "NoPermission",
	Detail:   "sas QueryPreCheckDatabase: auth: NoPermission (HTTP 403, RequestId 6F2B-0001): caller has no permission",
	Affected: 12,
}

// GoldenMessages renders every golden message with r and passes each, by
// its golden name, to write.
func GoldenMessages(t *testing.T, r notify.Renderer, write func(t *testing.T, name string, m notify.Message)) {
	for _, f := range Fixtures(t) {
		t.Run(f.Name, func(t *testing.T) { write(t, f.Name, checked(t, r.Verdict(f.Task, f.Outcome))) })
	}
	t.Run("digest", func(t *testing.T) {
		pages := r.Digest(Mixed(t))
		if len(pages) != 1 {
			t.Fatalf("%d digest pages for %d small tasks", len(pages), len(Mixed(t)))
		}
		write(t, "digest-mixed", checked(t, pages[0].Message))
	})
	t.Run("summary", func(t *testing.T) {
		first, second := FleetRuns(t)
		write(t, "summary-first-run", checked(t, r.Summary(first)))
		write(t, "summary-changes", checked(t, r.Summary(second)))
		write(t, "summary-500", checked(t, r.Summary(LargeFleet(t, 500))))
	})
	t.Run("started", func(t *testing.T) { write(t, "started", checked(t, r.Started(StartedTask))) })
	t.Run("operator-alert", func(t *testing.T) { write(t, "operator-alert", checked(t, r.OperatorAlert(OperatorAlert))) })
}

func checked(t *testing.T, m notify.Message) notify.Message {
	t.Helper()
	if err := m.Content.Check(); err != nil {
		t.Errorf("limits: %v", err)
	}
	return m
}

// Decided runs a task through the domain's own decision, as the handler
// does, so the fixtures are outcomes the product really produces.
func Decided(t testing.TB, task precheck.Task, s precheck.Status, now time.Time, attempts int) notify.Finished {
	t.Helper()
	task.Attempt = attempts - 1
	f := precheck.Decide(precheck.Facts{Task: task, FirstSeen: FirstSeen, Reply: precheck.Answer(s), Now: now, Jitter: 0.5}, Policy)
	if f.Action != precheck.Deliver {
		t.Fatalf("task %s: fate is %v, not a verdict", task.TaskID, f.Action)
	}
	return notify.Finished{Task: f.Task, Outcome: *f.Outcome}
}

// Completed is task finished with result, a Result JSON array.
func Completed(t testing.TB, task precheck.Task, result string) notify.Finished {
	t.Helper()
	return Decided(t, task, precheck.Status{Progress: 100, Description: precheck.DescCompleted, Result: result}, DecidedAt, 5)
}

// Hostile is a finished task whose id, instance, source and check result
// carry markup and code spans, labelled label: a renderer must show all of
// it as text. Each channel passes a label with its own markup.
func Hostile(t testing.TB, label string) notify.Finished {
	t.Helper()
	task := precheck.Task{TaskID: "t-<b>x</b>", UniRegionID: "cn-hangzhou", Label: label}
	return Completed(t, task, "["+InstanceJSON("i-`tick`<img>", "<b>MYSQL</b>", 1795744800, "MYSQL_BINLOG", "<i>OFF</i> & more")+"]")
}

// InstanceJSON is one instance of a Result: items are code, result pairs.
func InstanceJSON(id, source string, checkTime int64, items ...string) string {
	var results []string
	for i := 0; i+1 < len(items); i += 2 {
		results = append(results, fmt.Sprintf(`{"item":%q,"result":%q}`, items[i], items[i+1]))
	}
	return fmt.Sprintf(`{"instanceId":%q,"checkTime":%d,"sourceType":%q,"results":[%s]}`, id, checkTime, source, strings.Join(results, ","))
}

// ManyMySQL is a Result of n MySQL instances; those numbered in failing lack binlog.
func ManyMySQL(n int, failing ...int) string {
	var ins []string
	for i := range n {
		binlog := "PASSED"
		for _, f := range failing {
			if f == i {
				binlog = "FAILED"
			}
		}
		ins = append(ins, InstanceJSON(fmt.Sprintf("i-bp1mysql%04d", i), "MYSQL", 1795744800+int64(i),
			"OSS_INTERNAL_ENDPOINT_CONNECTIVITY", "PASSED", "SERVICE_CONNECTIVITY", "PASSED",
			"MYSQL_VERSION", "PASSED", "MYSQL_BINLOG", binlog))
	}
	return "[" + strings.Join(ins, ",") + "]"
}

// Fixture is a finished task as the product decides it, for rendering
// tests.
type Fixture struct {
	// Name names the fixture and its golden files.
	Name string
	notify.Finished
	// Truncated marks a task too big to show every instance.
	Truncated bool
}

// Fixtures are the verdicts every channel's golden files show: one per
// database type and verdict, an item outside the catalogue, and a result
// too big for one message.
func Fixtures(t testing.TB) []Fixture {
	mysql := Completed(t, precheck.Task{
		TaskID: "t-000bc9nqwxsbyvod0001", UniRegionID: "cn-hangzhou", InstanceUUID: "ebc895506c6911ed800000163e0e0001",
		DatabaseType: "MYSQL", Label: "orders-db prod",
	}, "["+InstanceJSON("i-bp1orders0001", "MYSQL", 1795744980,
		"OSS_INTERNAL_ENDPOINT_CONNECTIVITY", "PASSED", "SERVICE_CONNECTIVITY", "PASSED",
		"MYSQL_VERSION", "PASSED", "MYSQL_BINLOG", "PASSED")+"]")
	mssql := Completed(t, precheck.Task{
		TaskID: "t-000bc9nqwxsbyvod0002", UniRegionID: "cn-hangzhou", InstanceUUID: "ebc895506c6911ed800000163e0e0002",
		DatabaseType: "MSSQL", Label: "billing-sqlserver",
	}, "["+InstanceJSON("i-wz91if83t97xgtn2****", "MSSQL", 1671245753,
		"OSS_INTERNAL_ENDPOINT_CONNECTIVITY", "PASSED", "SERVICE_CONNECTIVITY", "PASSED",
		"SQL_SERVER_DB_IN_SIMPLE_RECOVERY_MODE", "WARNING", "SQL_SERVER_DB_NOT_ONLINE", "PASSED")+"]")
	oracle := Completed(t, precheck.Task{
		TaskID: "t-000bc9nqwxsbyvod0003", UniRegionID: "cn-shanghai", DatabaseType: "ORACLE", Label: "erp-oracle",
	}, "["+InstanceJSON("i-uf6erp0001", "ORACLE", 1795745000,
		"OSS_INTERNAL_ENDPOINT_CONNECTIVITY", "PASSED", "SERVICE_CONNECTIVITY", "PASSED",
		"ORACLE_INSTANCE_STATUS", "PASSED", "ORACLE_DB_STATUS", "PASSED", "ARCHIVELOG", "NOT_ARCHIVELOG")+","+
		InstanceJSON("i-uf6erp0002", "ORACLE", 1795745010,
			"OSS_INTERNAL_ENDPOINT_CONNECTIVITY", "PASSED", "SERVICE_CONNECTIVITY", "PASSED",
			"ORACLE_INSTANCE_STATUS", "PASSED", "ORACLE_DB_STATUS", "WARNING", "ARCHIVELOG", "FAILED")+"]")
	errored := Decided(t, precheck.Task{
		TaskID: "t-000bc9nqwxsbyvod0004", UniRegionID: "cn-hangzhou", DatabaseType: "MYSQL", Label: "inventory-db",
	}, precheck.Status{Progress: 40, Description: precheck.DescError}, DecidedAt, 3)
	timedOut := Decided(t, precheck.Task{
		TaskID: "t-000bc9nqwxsbyvod0005", UniRegionID: "ap-southeast-1", DatabaseType: "MSSQL",
	}, precheck.Status{Progress: 60, Description: precheck.DescCreated}, FirstSeen.Add(2*time.Hour+30*time.Second), 24)
	unknown := Completed(t, precheck.Task{
		TaskID: "t-000bc9nqwxsbyvod0006", UniRegionID: "cn-hangzhou", Label: "analytics-mysql",
	}, "["+InstanceJSON("i-bp1analytics01", "MYSQL", 1795745100,
		"OSS_INTERNAL_ENDPOINT_CONNECTIVITY", "PASSED", "MYSQL_GTID_MODE", "GTID_OFF", "MYSQL_BINLOG", "PASSED")+"]")
	many := Completed(t, precheck.Task{
		TaskID: "t-000bc9nqwxsbyvod0007", UniRegionID: "cn-beijing", DatabaseType: "MYSQL", Label: "mysql fleet",
	}, ManyMySQL(200, 17, 150))
	return []Fixture{
		{Name: "mysql-passed", Finished: mysql},
		{Name: "sqlserver-warning", Finished: mssql},
		{Name: "oracle-failed", Finished: oracle},
		{Name: "error", Finished: errored},
		{Name: "timed-out", Finished: timedOut},
		{Name: "unknown-item", Finished: unknown},
		{Name: "truncated-200-instances", Finished: many, Truncated: true},
	}
}

// englishWords are words of the English phrases; none may show in a
// Chinese message outside the user's data and the system's own words in
// code spans.
var englishWords = []string{"instance", "passed", "failed", "warning", "Reason", "task ", "region ", "agent ", "quer",
	"decided", "checked", "same fix", "more ", "Open the", "console", "recheck", "queued", "operator", "verdict",
	"refused", "cannot", "detail", "reason", "deadline", "answer", "ready", "database", "since the last", "removed", "new ", "run "}

var codeSpan = regexp.MustCompile("`[^`]*`")

// Chinese checks that every golden message r renders, and a verdict of
// every cause, says nothing in English: what is left once code spans,
// links and the fixtures' own data are taken out holds none of the
// English phrases' words. A cause's own data shows verbatim.
func Chinese(t *testing.T, r notify.Renderer) {
	english := func(t *testing.T, name string, m notify.Message) {
		t.Helper()
		text := codeSpan.ReplaceAllString(m.Content.Plain(), "")
		for _, data := range []string{"precheckwatch", "https://yundun.console.aliyun.com/?p=sas"} {
			text = strings.ReplaceAll(text, data, "")
		}
		for _, w := range englishWords {
			if strings.Contains(strings.ToLower(text), strings.ToLower(w)) {
				t.Errorf("%s says %q in English:\n%s", name, w, text)
			}
		}
	}
	GoldenMessages(t, r, english)
	task := precheck.Task{TaskID: "t-000bc9nqwxsbyvod0009", UniRegionID: "cn-hangzhou", DatabaseType: "MYSQL"}
	for _, a := range CauseAlerts {
		t.Run(fmt.Sprintf("alert %d %s", a.Cause, a.Service), func(t *testing.T) {
			m := checked(t, r.OperatorAlert(a))
			english(t, "alert", m)
			if plain := html.UnescapeString(m.Content.Plain()); !strings.Contains(plain, "详情（原文）") || !strings.Contains(plain, a.Detail) {
				t.Errorf("the alert's detail %q is missing:\n%s", a.Detail, m.Content.Plain())
			}
		})
	}
	for _, o := range CauseOutcomes {
		t.Run(string(o.Cause), func(t *testing.T) {
			m := checked(t, r.Verdict(task, o))
			english(t, string(o.Cause), m)
			// The channel's markup escapes what it must; the reader sees
			// the detail as it was.
			if plain := html.UnescapeString(m.Content.Plain()); !strings.Contains(plain, "原因") || !strings.Contains(plain, o.Detail) {
				t.Errorf("the cause or its detail %q is missing:\n%s", o.Detail, m.Content.Plain())
			}
		})
	}
}

// CauseAlerts are operator alerts of every cause the handler raises.
var CauseAlerts = []notify.Alert{
	OperatorAlert,
	{Cause: notify.ServiceDenied, Service: notify.MNS, Code: "AccessDenied", Detail: "mns receive: AccessDenied: The OwnerId that your Access Key Id associated to is forbidden", Affected: 1},
	{Cause: notify.RecordUnreachable, Detail: "dial tcp 10.0.0.5:6379: connect: connection refused"},
}

// CauseOutcomes are verdicts of every cause the domain decides, with the
// data each carries.
var CauseOutcomes = []precheck.Outcome{
	{Verdict: precheck.Error, Cause: precheck.CauseFailed, Progress: 40},
	{Verdict: precheck.Error, Cause: precheck.CauseUnreadable, Detail: "invalid character '<' looking for beginning of value", Progress: 100},
	{Verdict: precheck.Failed, Cause: precheck.CauseNoInstances, Progress: 100},
	{Verdict: precheck.Error, Cause: precheck.CauseUnknownTask, FirstSeen: FirstSeen.UnixMilli(), DecidedAt: FirstSeen.Add(10 * time.Minute).UnixMilli()},
	{Verdict: precheck.Error, Cause: precheck.CauseRefused, Detail: "sas QueryPreCheckDatabase: permanent: InvalidRegionId (HTTP 400)"},
	{Verdict: precheck.TimedOut, Cause: precheck.CauseStillRunning, Deadline: 2 * time.Hour, Progress: 60},
	{Verdict: precheck.TimedOut, Cause: precheck.CauseUnanswered, Detail: "Throttling.User", Deadline: 2 * time.Hour},
}
