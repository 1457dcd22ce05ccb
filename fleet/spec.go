// Package fleet starts fleet runs: one precheck for every database Security
// Center knows for backup in the fleet's regions, of its types and
// matching its name pattern, each task sent to the pending queue with the
// run it belongs to. A run is resumable: it is recorded in the shared
// ledger (ledger.Runs), so an invocation cut off half-way (a timeout, a
// kill) leaves the rest to the next invocation of the same run, which
// never starts a database twice.
package fleet

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Spec names a fleet: which databases a run covers. It is what a timer's
// payload carries under "fleet", and what the fleet command's flags say.
type Spec struct {
	// Regions are the database hosts' regions (UniRegionId); at least one.
	Regions []string `json:"regions"`
	// Types are MYSQL, MSSQL or Oracle, any case; none means every type.
	Types []string `json:"types,omitempty"`
	// Match is a glob (path.Match: '*', '?', '[a-z]') on the instance or
	// database name; "" matches every database.
	Match string `json:"match,omitempty"`
}

// databaseTypes maps each accepted spelling to StartPreCheckDatabase's.
var databaseTypes = map[string]string{"MYSQL": "MYSQL", "MSSQL": "MSSQL", "ORACLE": "Oracle"}

// Normalize checks s and returns it in one canonical form: regions and
// types sorted and deduplicated, types as StartPreCheckDatabase spells
// them. Its errors say what is wrong and what is expected.
func (s Spec) Normalize() (Spec, error) {
	var problems []string
	out := Spec{Match: s.Match}
	for _, r := range s.Regions {
		r = strings.TrimSpace(r)
		if !regionName(r) {
			problems = append(problems, fmt.Sprintf("region %q is not a region id like cn-hangzhou", r))
			continue
		}
		out.Regions = append(out.Regions, r)
	}
	if len(s.Regions) == 0 {
		problems = append(problems, "no region: name at least one, e.g. cn-hangzhou")
	}
	for _, t := range s.Types {
		canonical, ok := databaseTypes[strings.ToUpper(strings.TrimSpace(t))]
		if !ok {
			problems = append(problems, fmt.Sprintf("database type %q is not MYSQL, MSSQL or Oracle", t))
			continue
		}
		out.Types = append(out.Types, canonical)
	}
	if _, err := path.Match(s.Match, ""); err != nil {
		problems = append(problems, fmt.Sprintf("match %q is not a valid pattern (use *, ? and [a-z])", s.Match))
	}
	if len(problems) > 0 {
		return Spec{}, errors.New("fleet: " + strings.Join(problems, "; "))
	}
	slices.Sort(out.Regions)
	out.Regions = slices.Compact(out.Regions)
	slices.Sort(out.Types)
	out.Types = slices.Compact(out.Types)
	return out, nil
}

// regionName reports a plausible region id: lowercase letters, digits and
// '-', starting with a letter.
func regionName(r string) bool {
	if r == "" || len(r) > 64 || r[0] < 'a' || r[0] > 'z' {
		return false
	}
	for i := 0; i < len(r); i++ {
		if c := r[i]; !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// String describes a normalized fleet for people, in no language's words,
// and names it in the record: its regions, then its types (none: every
// type), then its pattern in quotes, e.g. `cn-hangzhou, cn-shanghai · MYSQL
// · "prod-*"`. Two fleets read the same only when they are the same.
func (s Spec) String() string {
	parts := []string{strings.Join(s.Regions, ", ")}
	if len(s.Types) > 0 {
		parts = append(parts, strings.Join(s.Types, ", "))
	}
	if s.Match != "" {
		parts = append(parts, strconv.Quote(s.Match))
	}
	return strings.Join(parts, " · ")
}

// RunID is the id of the run of normalized fleet s scheduled at when:
// "fleet-", eight hex digits naming the fleet, and the scheduled minute in
// UTC, e.g. fleet-1a2b3c4d-20261207T0300Z. Every invocation of one
// schedule (a timer's retries, which carry the same triggerTime) is the
// same run; another fleet or another time is another run.
func (s Spec) RunID(when time.Time) string {
	sum := sha256.Sum256([]byte(s.String()))
	return "fleet-" + hex.EncodeToString(sum[:4]) + "-" + when.UTC().Format("20060102T1504Z")
}

// CheckRunID reports an explicit run id the ledger would refuse.
func CheckRunID(id string) error {
	if id == "" || len(id) > 64 || strings.Trim(id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") != "" {
		return fmt.Errorf("fleet: run id %q is not 1 to 64 letters, digits, '.', '_' or '-'", id)
	}
	return nil
}

// matches reports whether the database falls in the fleet's type and
// pattern (the region is the listing's).
func (s Spec) matches(dbType string, names ...string) bool {
	if len(s.Types) > 0 && !slices.Contains(s.Types, databaseTypes[strings.ToUpper(dbType)]) {
		return false
	}
	if s.Match == "" {
		return true
	}
	for _, n := range names {
		if ok, _ := path.Match(s.Match, n); ok && n != "" {
			return true
		}
	}
	return false
}
