package securitycenter

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"time"
)

// FleetRegions are the regions GenerateFleet spreads databases over: three
// mainland regions and one international one.
var FleetRegions = []string{"cn-hangzhou", "cn-shanghai", "cn-beijing", "ap-southeast-1"}

// fleetTypes are StartPreCheckDatabase's spellings, weighted as a DBA
// team's estate often is: mostly MySQL.
var fleetTypes = []string{"MYSQL", "MYSQL", "MYSQL", "MSSQL", "Oracle"}

var fleetServices = []string{"orders", "billing", "users", "catalog", "search", "audit", "ledger", "inventory", "payments", "reports"}

var fleetStages = []string{"prod", "prod", "staging", "dev"}

// failing is, per type, an item that a not-ready database of that type
// fails and the result it reports.
var failing = map[string][2]string{
	"MYSQL":  {"MYSQL_BINLOG", "FAILED"},
	"MSSQL":  {"SQL_SERVER_DB_IN_SIMPLE_RECOVERY_MODE", Warning},
	"Oracle": {"ARCHIVELOG", "FAILED"},
}

// GenerateFleet returns n databases a test or the demo can register with
// AddDatabase: spread over FleetRegions and the three types, named like
// "prod-orders-007", each with its own backup agent, and about one in
// eight not ready (one failing item, by its type). The same n and seed give
// the same fleet. Each precheck finishes after between one and five
// seconds, scripted per database, so a fleet's verdicts arrive spread out.
func GenerateFleet(n int, seed uint64) []Database {
	r := rand.New(rand.NewPCG(seed, 0x5a5))
	out := make([]Database, n)
	for i := range out {
		dbType := fleetTypes[r.IntN(len(fleetTypes))]
		name := fmt.Sprintf("%s-%s-%03d", fleetStages[r.IntN(len(fleetStages))], fleetServices[r.IntN(len(fleetServices))], i)
		d := Database{
			InstanceUUID:     fmt.Sprintf("%08x-fleet-%04d-%s", seed&0xffffffff, i, hashID(fmt.Sprint(seed, i), 12)),
			InstanceID:       "i-" + hashID(fmt.Sprint("instance", seed, i), 20),
			InstanceName:     name,
			DatabaseName:     name,
			DatabaseType:     dbType,
			DatabaseVersion:  map[string]string{"MYSQL": "8.0.36", "MSSQL": "15.0.4355.3", "Oracle": "19.3.0.0.0"}[dbType],
			UniRegionID:      FleetRegions[r.IntN(len(FleetRegions))],
			PolicyID:         int64(1000 + i),
			PrecheckDuration: time.Second + time.Duration(r.IntN(4000))*time.Millisecond,
		}
		if r.IntN(8) == 0 {
			f := failing[dbType]
			d.Precheck = map[string]string{f[0]: f[1]}
		}
		out[i] = withDefaults(d)
	}
	return out
}

// UpdateDatabase changes the registered database of backup agent
// instanceUUID (its precheck's results, duration or outcome, its name);
// prechecks started from then on follow the change. It reports whether
// the database was found.
func (s *Server) UpdateDatabase(instanceUUID string, change func(*Database)) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.databases {
		if s.databases[i].InstanceUUID == instanceUUID {
			change(&s.databases[i])
			s.databases[i].InstanceUUID = instanceUUID
			return true
		}
	}
	return false
}

// RemoveDatabase unregisters the database of backup agent instanceUUID,
// as when it leaves the backup policy, and reports whether it was found.
func (s *Server) RemoveDatabase(instanceUUID string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(s.databases)
	s.databases = slices.DeleteFunc(s.databases, func(d Database) bool { return d.InstanceUUID == instanceUUID })
	return len(s.databases) < n
}

// Starts reports, per backup agent, how many prechecks
// StartPreCheckDatabase started on it.
func (s *Server) Starts() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int, len(s.starts))
	for k, v := range s.starts {
		out[k] = v
	}
	return out
}
