// Package sample holds the verdicts every channel's golden files show and
// the preview page renders: one per database type and verdict, an item
// outside the catalogue and a result too big for one message, each decided
// by precheck.Decide as the function decides, on a fixed clock.
package sample

import (
	"fmt"
	"strings"
	"time"

	"precheckwatch/notify"
	"precheckwatch/precheck"
)

// The samples' fixed clock: nothing rendered from them depends on when it
// is rendered.
var (
	FirstSeen = time.Date(2026, 11, 27, 2, 0, 0, 0, time.UTC)
	DecidedAt = FirstSeen.Add(4*time.Minute + 12*time.Second)
	Policy    = precheck.Policy{BackoffInitial: 15 * time.Second, BackoffMax: 5 * time.Minute, Deadline: 2 * time.Hour}
)

// Verdict is a finished task as the product decides it.
type Verdict struct {
	// Name names the verdict, its golden files and its place on the page.
	Name string
	notify.Finished
	// Truncated marks a task too big to show every instance.
	Truncated bool
}

// Verdicts are the sample verdicts.
func Verdicts() ([]Verdict, error) {
	var errs []error
	completed := func(task precheck.Task, result string) notify.Finished {
		f, err := Completed(task, result)
		errs = append(errs, err)
		return f
	}
	decided := func(task precheck.Task, s precheck.Status, now time.Time, attempts int) notify.Finished {
		f, err := Decided(task, s, now, attempts)
		errs = append(errs, err)
		return f
	}
	mysql := completed(StartedTask, "["+InstanceJSON("i-bp1orders0001", "MYSQL", 1795744980,
		"OSS_INTERNAL_ENDPOINT_CONNECTIVITY", "PASSED", "SERVICE_CONNECTIVITY", "PASSED",
		"MYSQL_VERSION", "PASSED", "MYSQL_BINLOG", "PASSED")+"]")
	mssql := completed(precheck.Task{
		TaskID: "t-000bc9nqwxsbyvod0002", UniRegionID: "cn-hangzhou", InstanceUUID: "ebc895506c6911ed800000163e0e0002",
		DatabaseType: "MSSQL", Label: "billing-sqlserver",
	}, "["+InstanceJSON("i-wz91if83t97xgtn2****", "MSSQL", 1671245753,
		"OSS_INTERNAL_ENDPOINT_CONNECTIVITY", "PASSED", "SERVICE_CONNECTIVITY", "PASSED",
		"SQL_SERVER_DB_IN_SIMPLE_RECOVERY_MODE", "WARNING", "SQL_SERVER_DB_NOT_ONLINE", "PASSED")+"]")
	oracle := completed(precheck.Task{
		TaskID: "t-000bc9nqwxsbyvod0003", UniRegionID: "cn-shanghai", DatabaseType: "ORACLE", Label: "erp-oracle",
	}, "["+InstanceJSON("i-uf6erp0001", "ORACLE", 1795745000,
		"OSS_INTERNAL_ENDPOINT_CONNECTIVITY", "PASSED", "SERVICE_CONNECTIVITY", "PASSED",
		"ORACLE_INSTANCE_STATUS", "PASSED", "ORACLE_DB_STATUS", "PASSED", "ARCHIVELOG", "NOT_ARCHIVELOG")+","+
		InstanceJSON("i-uf6erp0002", "ORACLE", 1795745010,
			"OSS_INTERNAL_ENDPOINT_CONNECTIVITY", "PASSED", "SERVICE_CONNECTIVITY", "PASSED",
			"ORACLE_INSTANCE_STATUS", "PASSED", "ORACLE_DB_STATUS", "WARNING", "ARCHIVELOG", "FAILED")+"]")
	errored := decided(precheck.Task{
		TaskID: "t-000bc9nqwxsbyvod0004", UniRegionID: "cn-hangzhou", DatabaseType: "MYSQL", Label: "inventory-db",
	}, precheck.Status{Progress: 40, Description: precheck.DescError}, DecidedAt, 3)
	timedOut := decided(precheck.Task{
		TaskID: "t-000bc9nqwxsbyvod0005", UniRegionID: "ap-southeast-1", DatabaseType: "MSSQL",
	}, precheck.Status{Progress: 60, Description: precheck.DescCreated}, FirstSeen.Add(Policy.Deadline+30*time.Second), 24)
	unknown := completed(precheck.Task{
		TaskID: "t-000bc9nqwxsbyvod0006", UniRegionID: "cn-hangzhou", Label: "analytics-mysql",
	}, "["+InstanceJSON("i-bp1analytics01", "MYSQL", 1795745100,
		"OSS_INTERNAL_ENDPOINT_CONNECTIVITY", "PASSED", "MYSQL_GTID_MODE", "GTID_OFF", "MYSQL_BINLOG", "PASSED")+"]")
	many := completed(precheck.Task{
		TaskID: "t-000bc9nqwxsbyvod0007", UniRegionID: "cn-beijing", DatabaseType: "MYSQL", Label: "mysql fleet",
	}, ManyMySQL(200, 17, 150))
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return []Verdict{
		{Name: "mysql-passed", Finished: mysql},
		{Name: "sqlserver-warning", Finished: mssql},
		{Name: "oracle-failed", Finished: oracle},
		{Name: "error", Finished: errored},
		{Name: "timed-out", Finished: timedOut},
		{Name: "unknown-item", Finished: unknown},
		{Name: "truncated-200-instances", Finished: many, Truncated: true},
	}, nil
}

// Small is every verdict of vs small enough to show in full.
func Small(vs []Verdict) []notify.Finished {
	var out []notify.Finished
	for _, v := range vs {
		if !v.Truncated {
			out = append(out, v.Finished)
		}
	}
	return out
}

// StartedTask is the task of the "precheck running" notice, and of the
// MySQL verdict.
var StartedTask = precheck.Task{TaskID: "t-000bc9nqwxsbyvod0001", UniRegionID: "cn-hangzhou",
	InstanceUUID: "ebc895506c6911ed800000163e0e0001", DatabaseType: "MYSQL", Label: "orders-db prod"}

// OperatorAlert is the sample operator alert.
var OperatorAlert = notify.Alert{
	Cause: notify.ServiceDenied, Service: notify.SecurityCenter, Code: "NoPermission",
	Detail:   "sas QueryPreCheckDatabase: auth: NoPermission (HTTP 403, RequestId 6F2B-0001): caller has no permission",
	Affected: 12,
}

// Decided runs a task through the domain's own decision at its
// attempts-th query at now, as the handler does, so a sample is an outcome
// the product really produces.
func Decided(task precheck.Task, s precheck.Status, now time.Time, attempts int) (notify.Finished, error) {
	task.Attempt = attempts - 1
	f := precheck.Decide(precheck.Facts{Task: task, FirstSeen: FirstSeen, Reply: precheck.Answer(s), Now: now, Jitter: 0.5}, Policy)
	if f.Action != precheck.Deliver {
		return notify.Finished{}, fmt.Errorf("sample task %s: the fate is %v, not a verdict", task.TaskID, f.Action)
	}
	return notify.Finished{Task: f.Task, Outcome: *f.Outcome}, nil
}

// Completed is task finished with result, a Result JSON array.
func Completed(task precheck.Task, result string) (notify.Finished, error) {
	return Decided(task, precheck.Status{Progress: 100, Description: precheck.DescCompleted, Result: result}, DecidedAt, 5)
}

// InstanceJSON is one instance of a Result: items are code, result pairs.
func InstanceJSON(id, source string, checkTime int64, items ...string) string {
	var results []string
	for i := 0; i+1 < len(items); i += 2 {
		results = append(results, fmt.Sprintf(`{"item":%q,"result":%q}`, items[i], items[i+1]))
	}
	return fmt.Sprintf(`{"instanceId":%q,"checkTime":%d,"sourceType":%q,"results":[%s]}`, id, checkTime, source, strings.Join(results, ","))
}

// ManyMySQL is a Result of n MySQL instances; those numbered in failing
// lack binlog.
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
