package securitycenter

import (
	"encoding/json"
	"sort"
	"strings"
	"time"
)

// Source types as the precheck Result names them (sourceType).
const (
	SourceMySQL  = "MYSQL"
	SourceMSSQL  = "MSSQL"
	SourceOracle = "ORACLE"
)

// Item results the service is documented to report.
const (
	Passed  = "PASSED"
	Warning = "WARNING"
)

// sourceItems lists each source type's precheck items in the order the
// QueryPreCheckDatabase documentation gives them.
var sourceItems = map[string][]string{
	SourceMySQL:  {"OSS_INTERNAL_ENDPOINT_CONNECTIVITY", "SERVICE_CONNECTIVITY", "MYSQL_VERSION", "MYSQL_BINLOG"},
	SourceMSSQL:  {"OSS_INTERNAL_ENDPOINT_CONNECTIVITY", "SERVICE_CONNECTIVITY", "SQL_SERVER_DB_IN_SIMPLE_RECOVERY_MODE", "SQL_SERVER_DB_NOT_ONLINE"},
	SourceOracle: {"OSS_INTERNAL_ENDPOINT_CONNECTIVITY", "SERVICE_CONNECTIVITY", "ORACLE_INSTANCE_STATUS", "ORACLE_DB_STATUS", "ARCHIVELOG"},
}

// Items returns the precheck items the service checks for sourceType
// (MYSQL, MSSQL or ORACLE, any case; "Oracle" as StartPreCheckDatabase
// spells it works too), or nil for an unknown type.
func Items(sourceType string) []string {
	return append([]string(nil), sourceItems[strings.ToUpper(sourceType)]...)
}

// ItemResult is one entry of an instance's results in the Result JSON.
type ItemResult struct {
	Item   string `json:"item"`
	Result string `json:"result"`
}

// InstanceResult is one element of the Result JSON array.
type InstanceResult struct {
	InstanceID string       `json:"instanceId"`
	CheckTime  int64        `json:"checkTime"`
	SourceType string       `json:"sourceType"`
	Results    []ItemResult `json:"results"`
}

// Check builds the result of one instance's precheck: every item of
// sourceType PASSED unless results says otherwise. Items in results that
// the type does not have are appended in name order, so a test can make
// the service report an item or a value never seen before.
func Check(sourceType, instanceID string, checkTime time.Time, results map[string]string) InstanceResult {
	sourceType = strings.ToUpper(sourceType)
	out := InstanceResult{InstanceID: instanceID, CheckTime: checkTime.Unix(), SourceType: sourceType}
	known := map[string]bool{}
	for _, item := range sourceItems[sourceType] {
		known[item] = true
		r, ok := results[item]
		if !ok {
			r = Passed
		}
		out.Results = append(out.Results, ItemResult{Item: item, Result: r})
	}
	var extra []string
	for item := range results {
		if !known[item] {
			extra = append(extra, item)
		}
	}
	sort.Strings(extra)
	for _, item := range extra {
		out.Results = append(out.Results, ItemResult{Item: item, Result: results[item]})
	}
	return out
}

// ResultJSON renders instances as the Result string of a finished task,
// indented the way the documentation example is.
func ResultJSON(instances ...InstanceResult) string {
	if instances == nil {
		instances = []InstanceResult{}
	}
	b, err := json.MarshalIndent(instances, "", "    ")
	if err != nil { // cannot happen: the types hold only strings and numbers
		return "[]"
	}
	return string(b)
}
