package notify

import (
	"slices"
	"testing"

	"precheckwatch/precheck"
)

// A fleet's runs are compared by each database's identity, not by the
// name people know it by: a database renamed since the last run is
// neither new nor gone, two databases of one name are told apart, and a
// gone database is named as it was.
func TestSummaryComparesRunsByIdentity(t *testing.T) {
	member := func(id, name string, v precheck.Verdict) Member {
		return Member{ID: id, Database: name, Task: precheck.Task{TaskID: "t-" + id, DatabaseType: "MYSQL", Label: name},
			Outcome: &precheck.Outcome{Verdict: v}}
	}
	type seen struct {
		kind     changeKind
		database string
		from, to precheck.Verdict
	}
	cases := []struct {
		name     string
		members  []Member
		previous map[string]Prior
		want     []seen
	}{
		{"renamed, same verdict",
			[]Member{member("hz/a/MYSQL", "orders-db-v2", precheck.Passed)},
			map[string]Prior{"hz/a/MYSQL": {"orders-db", precheck.Passed}},
			nil},
		{"two databases of one name",
			[]Member{member("hz/a/MYSQL", "orders-db", precheck.Failed), member("sh/b/MYSQL", "orders-db", precheck.Passed)},
			map[string]Prior{"hz/a/MYSQL": {"orders-db", precheck.Passed}},
			[]seen{{worse, "orders-db", precheck.Passed, precheck.Failed}, {added, "orders-db", "", precheck.Passed}}},
		{"gone, named as it was",
			[]Member{member("hz/a/MYSQL", "orders-db", precheck.Passed)},
			map[string]Prior{"hz/a/MYSQL": {"orders-db", precheck.Passed}, "hz/c/MYSQL": {"legacy-db", precheck.Warning}},
			[]seen{{removed, "legacy-db", precheck.Warning, ""}}},
	}
	for _, c := range cases {
		s := NewSummary(Run{Fleet: "cn-hangzhou", ID: "r2", Members: c.members, Previous: c.previous}, English)
		var got []seen
		for _, ch := range s.changes {
			got = append(got, seen{ch.kind, ch.database, ch.from, ch.to})
		}
		slices.SortStableFunc(got, func(a, b seen) int { return int(a.kind) - int(b.kind) })
		if !slices.Equal(got, c.want) {
			t.Errorf("%s: changes %+v, want %+v", c.name, got, c.want)
		}
	}
}
