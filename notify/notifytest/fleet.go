package notifytest

import (
	"fmt"
	"testing"
	"time"

	"precheckwatch/notify"
	"precheckwatch/notify/sample"
	"precheckwatch/precheck"
)

// FleetStarted is when the fleet fixtures' runs began.
var FleetStarted = time.Date(2026, 11, 30, 2, 0, 0, 0, time.UTC)

// mysqlResult is one MySQL instance's Result with binlog as given.
func mysqlResult(id, binlog string) string {
	return "[" + sample.InstanceJSON(id, "MYSQL", 1795744800,
		"OSS_INTERNAL_ENDPOINT_CONNECTIVITY", "PASSED", "SERVICE_CONNECTIVITY", "PASSED",
		"MYSQL_VERSION", "PASSED", "MYSQL_BINLOG", binlog) + "]"
}

// member is database name's precheck in a fleet run, ended as result
// says: a Result array, or one of "error" and "pending". The fixtures'
// databases are known by their names across runs.
func member(t testing.TB, name string, n int, result string) notify.Member {
	t.Helper()
	task := precheck.Task{TaskID: fmt.Sprintf("t-fleet%06d", n), UniRegionID: "cn-hangzhou",
		InstanceUUID: fmt.Sprintf("ebc895506c6911ed8000%012d", n), DatabaseType: "MYSQL", Label: name}
	m := notify.Member{ID: name, Database: name, Task: task}
	switch result {
	case "pending":
	case "error":
		f := Decided(t, task, precheck.Status{Progress: 40, Description: precheck.DescError}, sample.DecidedAt, 3)
		m.Outcome = &f.Outcome
	default:
		f := Completed(t, task, result)
		m.Outcome = &f.Outcome
	}
	return m
}

// FleetRuns are two runs of a fleet of nine databases. The second has a
// database that got worse (orders-db: PASSED → FAILED on MYSQL_BINLOG),
// one that got better, one new, one removed, one that errored and one
// left without a verdict.
func FleetRuns(t testing.TB) (first, second notify.Run) {
	passed := func(name string, n int) notify.Member { return member(t, name, n, mysqlResult("i-"+name, "PASSED")) }
	failed := func(name string, n int) notify.Member { return member(t, name, n, mysqlResult("i-"+name, "FAILED")) }
	sqlWarning := member(t, "billing-sqlserver", 2, "["+sample.InstanceJSON("i-billing", "MSSQL", 1795744800,
		"SERVICE_CONNECTIVITY", "PASSED", "SQL_SERVER_DB_IN_SIMPLE_RECOVERY_MODE", "WARNING")+"]")
	sqlWarning.Task.DatabaseType = "MSSQL"
	oracle := member(t, "erp-oracle", 3, "["+sample.InstanceJSON("i-erp1", "ORACLE", 1795744800, "ARCHIVELOG", "NOT_ARCHIVELOG", "ORACLE_DB_STATUS", "PASSED")+","+
		sample.InstanceJSON("i-erp2", "ORACLE", 1795744800, "ARCHIVELOG", "FAILED", "ORACLE_DB_STATUS", "WARNING")+"]")
	oracle.Task.DatabaseType = "ORACLE"
	oracleFixed := member(t, "erp-oracle", 13, "["+sample.InstanceJSON("i-erp1", "ORACLE", 1795744800, "ARCHIVELOG", "PASSED")+"]")
	oracleFixed.Task.DatabaseType = "ORACLE"

	first = notify.Run{Fleet: "cn-hangzhou · MYSQL, MSSQL, ORACLE", ID: "fleet-20261123T0200", Started: FleetStarted.AddDate(0, 0, -7),
		Members: []notify.Member{
			passed("orders-db", 1), sqlWarning, oracle, passed("inventory-db", 4), passed("legacy-db", 5),
			passed("reports-db", 6), passed("crm-db", 7), passed("hr-db", 8), passed("wiki-db", 9),
		}}
	second = notify.Run{Fleet: first.Fleet, ID: "fleet-20261130T0200", Started: FleetStarted,
		Members: []notify.Member{
			failed("orders-db", 11), sqlWarning, oracleFixed, passed("inventory-db", 14),
			member(t, "analytics-mysql", 15, "["+sample.InstanceJSON("i-analytics", "MYSQL", 1795744800, "MYSQL_GTID_MODE", "GTID_OFF", "MYSQL_BINLOG", "PASSED")+"]"),
			member(t, "reports-db", 16, "error"), member(t, "crm-db", 17, "pending"), passed("hr-db", 18), passed("wiki-db", 19),
		},
		Previous: Previous(first)}
	return first, second
}

// Previous is run's databases as the next run compares with them.
func Previous(run notify.Run) map[string]notify.Prior {
	out := make(map[string]notify.Prior, len(run.Members))
	for _, m := range run.Members {
		p := notify.Prior{Database: m.Database}
		if m.Outcome != nil {
			p.Verdict = m.Outcome.Verdict
		}
		out[m.ID] = p
	}
	return out
}

// LargeFleet is a run of n MySQL databases after a run of the same fleet
// in which all passed: every seventh lacks binlog, every fiftieth errored,
// every hundredth has no verdict, and five databases of the last run are
// gone.
func LargeFleet(t testing.TB, n int) notify.Run {
	run := notify.Run{Fleet: "cn-hangzhou · MYSQL · prod-*", ID: "fleet-20261130T0200", Started: FleetStarted,
		Previous: map[string]notify.Prior{}}
	for i := range n {
		name := fmt.Sprintf("prod-mysql-%04d", i)
		result := mysqlResult("i-bp1"+name, "PASSED")
		switch {
		case i%100 == 99:
			result = "pending"
		case i%50 == 49:
			result = "error"
		case i%7 == 6:
			result = mysqlResult("i-bp1"+name, "FAILED")
		}
		run.Members = append(run.Members, member(t, name, i, result))
		run.Previous[name] = notify.Prior{Database: name, Verdict: precheck.Passed}
	}
	for i := range 5 {
		name := fmt.Sprintf("retired-mysql-%04d", i)
		run.Previous[name] = notify.Prior{Database: name, Verdict: precheck.Passed}
	}
	return run
}

// HostileRun is a fleet run whose fleet, databases and changes carry label
// (each channel passes one with its own markup): a database not ready (the
// Hostile task), a ready one, and one removed since the last run.
func HostileRun(t testing.TB, label string) notify.Run {
	f := Hostile(t, label)
	ready := member(t, label+" ready", 2, mysqlResult("i-2", "PASSED"))
	return notify.Run{Fleet: label, ID: "fleet-" + label, Started: FleetStarted,
		Members: []notify.Member{{ID: label, Database: label, Task: f.Task, Outcome: &f.Outcome}, ready},
		Previous: map[string]notify.Prior{
			label:           {Database: label, Verdict: precheck.Passed},
			label + " gone": {Database: label + " gone", Verdict: precheck.Failed},
		}}
}

// OutsideCode is s without its code spans, where markdown shows
// characters as they are.
func OutsideCode(s string) string { return codeSpan.ReplaceAllString(s, "") }
