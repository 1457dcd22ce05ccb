package sas

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"precheckwatch/failure"
	"precheckwatch/secret"
)

// PrecheckStatus is QueryPreCheckDatabase's answer.
type PrecheckStatus struct {
	RequestID string
	// Progress is the percentage done, 0 to 100.
	Progress int
	// Description is the task state: "created" (running), "completed" or
	// "error"; "" when the service knows no such task.
	Description string
	// Result is the JSON text of the per-instance results array; "" or
	// "[]" while the task runs.
	Result string
	// The task's times as the service sends them (epoch seconds in the
	// documentation's examples); 0 when absent.
	CreatedTime, UpdatedTime, CompletedTime int64
}

// QueryPreCheck asks how precheck task taskID is doing. uniRegionID is the
// region of the database host; instanceUUID (the backup agent) may be "".
func (c *Client) QueryPreCheck(ctx context.Context, creds secret.Credentials, taskID, uniRegionID, instanceUUID string) (PrecheckStatus, error) {
	const op = "QueryPreCheckDatabase"
	body, err := c.call(ctx, creds, op, map[string]string{
		"TaskId": taskID, "UniRegionId": uniRegionID, "InstanceUuid": instanceUUID,
	})
	if err != nil {
		return PrecheckStatus{}, err
	}
	st, err := parsePrecheckStatus(body)
	if err != nil {
		// A 2xx answer we cannot read (a proxy's page, a truncated body):
		// the task is not lost by asking again later.
		return PrecheckStatus{}, &failure.Error{Service: service, Op: op, Class: failure.Transient, HTTPStatus: 200, Message: err.Error()}
	}
	return st, nil
}

// parsePrecheckStatus reads QueryPreCheckDatabase's body leniently: numbers
// may arrive as JSON numbers or numeric strings, and Result as a string
// (documented) or as the array itself.
func parsePrecheckStatus(body []byte) (PrecheckStatus, error) {
	var raw struct {
		RequestID     string          `json:"RequestId"`
		Progress      any             `json:"Progress"`
		Description   string          `json:"Description"`
		Result        json.RawMessage `json:"Result"`
		CreatedTime   any             `json:"CreatedTime"`
		UpdatedTime   any             `json:"UpdatedTime"`
		CompletedTime any             `json:"CompletedTime"`
	}
	if err := json.Unmarshal(body, &raw); err != nil {
		return PrecheckStatus{}, fmt.Errorf("answer is not the expected JSON object: %v", err)
	}
	st := PrecheckStatus{RequestID: raw.RequestID, Description: raw.Description}
	progress, err := integer("Progress", raw.Progress)
	if err != nil {
		return PrecheckStatus{}, err
	}
	st.Progress = int(max(0, min(100, progress)))
	for _, f := range []struct {
		name string
		v    any
		dst  *int64
	}{{"CreatedTime", raw.CreatedTime, &st.CreatedTime}, {"UpdatedTime", raw.UpdatedTime, &st.UpdatedTime}, {"CompletedTime", raw.CompletedTime, &st.CompletedTime}} {
		if *f.dst, err = integer(f.name, f.v); err != nil {
			return PrecheckStatus{}, err
		}
	}
	switch result := strings.TrimSpace(string(raw.Result)); {
	case result == "" || result == "null":
	case strings.HasPrefix(result, `"`):
		if err := json.Unmarshal(raw.Result, &st.Result); err != nil {
			return PrecheckStatus{}, fmt.Errorf("field Result: %v", err)
		}
	case strings.HasPrefix(result, "["):
		st.Result = result
	default:
		return PrecheckStatus{}, fmt.Errorf("field Result is neither a string nor an array")
	}
	return st, nil
}

// integer reads a JSON number or numeric string as an int64; absent is 0.
func integer(name string, v any) (int64, error) {
	switch x := v.(type) {
	case nil:
		return 0, nil
	case float64:
		if x != math.Trunc(x) || math.Abs(x) > 1<<53 {
			return 0, fmt.Errorf("%s %v is not an integer", name, x)
		}
		return int64(x), nil
	case string:
		if x == "" {
			return 0, nil
		}
		n, err := strconv.ParseInt(x, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%s %q is not an integer", name, x)
		}
		return n, nil
	default:
		return 0, fmt.Errorf("%s is a %T, not a number", name, v)
	}
}

// databaseTypes maps the accepted spellings to the ones
// StartPreCheckDatabase documents.
var databaseTypes = map[string]string{"MYSQL": "MYSQL", "MSSQL": "MSSQL", "ORACLE": "Oracle"}

// StartPreCheck starts a precheck of a database (databaseType MYSQL, MSSQL
// or Oracle, any case) and returns its task id, the answer's CreateMark.
// It is not idempotent: a retry may start a second task.
func (c *Client) StartPreCheck(ctx context.Context, creds secret.Credentials, databaseType, uniRegionID, instanceUUID string) (string, error) {
	const op = "StartPreCheckDatabase"
	dbType, ok := databaseTypes[strings.ToUpper(databaseType)]
	if !ok {
		return "", &failure.Error{Service: service, Op: op, Class: failure.Permanent, Message: fmt.Sprintf("database type %q is not MYSQL, MSSQL or Oracle", databaseType)}
	}
	body, err := c.call(ctx, creds, op, map[string]string{
		"DatabaseType": dbType, "UniRegionId": uniRegionID, "InstanceUuid": instanceUUID,
	})
	if err != nil {
		return "", err
	}
	var answer struct {
		CreateMark string `json:"CreateMark"`
		RequestID  string `json:"RequestId"`
	}
	if err := json.Unmarshal(body, &answer); err != nil || answer.CreateMark == "" {
		return "", &failure.Error{Service: service, Op: op, Class: failure.Permanent, HTTPStatus: 200, RequestID: answer.RequestID,
			Message: "the answer carries no CreateMark (task id)"}
	}
	return answer.CreateMark, nil
}

// Database is one database DescribeUniBackupDatabase lists.
type Database struct {
	InstanceUUID     string `json:"InstanceUuid"` // the backup agent, for StartPreCheck
	InstanceID       string `json:"InstanceId"`
	InstanceName     string `json:"InstanceName"`
	DatabaseName     string `json:"DatabaseName"`
	DatabaseType     string `json:"DatabaseType"`
	DatabaseVersion  string `json:"DatabaseVersion"`
	AgentStatus      string `json:"AgentStatus"`
	Status           string `json:"Status"`
	CreatedByProduct string `json:"CreatedByProduct"`
	PolicyID         int64  `json:"PolicyId"`
	// UniRegionID is the region the listing asked for: the answer does not
	// say where a database is.
	UniRegionID string `json:"-"`
}

// DatabaseQuery is what DescribeUniBackupDatabase filters on.
type DatabaseQuery struct {
	// UniRegionID is the database hosts' region; required, since only the
	// question says where the listed databases are.
	UniRegionID string
	// DatabaseType is MYSQL, MSSQL or Oracle (any case); "" lists every type.
	DatabaseType string
}

const (
	// describePageSize is the documentation's default page, the one size
	// the service surely accepts.
	describePageSize = 20
	// describeMaxDatabases bounds a listing against a service that never
	// stops paging.
	describeMaxDatabases = 20_000
)

// Paging is how DescribeDatabases asks for each page. The zero Paging
// asks once a page, unpaced, within the context's deadline.
type Paging struct {
	// Pace, when not nil, is waited on before each request of a page (the
	// caller's rate limit).
	Pace func(context.Context) error
	// Attempts bounds the requests of one page that fail for a passing
	// reason (a transient or throttled failure); below 1 means one.
	Attempts int
	// Timeout bounds one request of a page, so that a service not
	// answering leaves time to ask again; 0 means the context's deadline.
	Timeout time.Duration
}

// DescribeDatabases lists every database Security Center can back up that
// q names, page by page, as paging says. A listing only reads, so a page
// that failed for a passing reason is asked for again (after the service's
// RetryAfter, else a pause doubling from 250ms) while paging.Attempts and
// the context's deadline allow. A page that still fails fails the listing:
// a part of a fleet must not pass for all of it.
func (c *Client) DescribeDatabases(ctx context.Context, creds secret.Credentials, q DatabaseQuery, paging Paging) ([]Database, error) {
	if q.UniRegionID == "" {
		return nil, describeFailure(failure.Permanent, 0, "no region: the answer would not say where each database is")
	}
	dbType := ""
	if q.DatabaseType != "" {
		var ok bool
		if dbType, ok = databaseTypes[strings.ToUpper(q.DatabaseType)]; !ok {
			return nil, describeFailure(failure.Permanent, 0, "database type %q is not MYSQL, MSSQL or Oracle", q.DatabaseType)
		}
	}
	var all []Database
	seen := map[Database]bool{}
	for page := 1; ; page++ {
		answer, err := c.describePage(ctx, creds, q.UniRegionID, dbType, page, paging)
		if err != nil {
			return nil, err
		}
		fresh := 0
		for _, d := range answer.DatabaseList {
			d.UniRegionID = q.UniRegionID
			// A database added while the listing pages may push one
			// already listed onto the next page.
			if !seen[d] {
				seen[d] = true
				all = append(all, d)
				fresh++
			}
		}
		switch total := answer.PageInfo.TotalCount; {
		case len(answer.DatabaseList) < describePageSize || len(all) >= total:
			return all, nil
		case fresh == 0:
			return nil, describeFailure(failure.Transient, 200, "page %d repeats the databases of earlier pages (TotalCount %d, %d listed)", page, total, len(all))
		case len(all) >= describeMaxDatabases:
			return nil, describeFailure(failure.Permanent, 200, "more than %d databases in %s: list them by database type", describeMaxDatabases, q.UniRegionID)
		}
	}
}

const describeOp = "DescribeUniBackupDatabase"

func describeFailure(class failure.Class, status int, format string, args ...any) error {
	return &failure.Error{Service: service, Op: describeOp, Class: class, HTTPStatus: status, Message: fmt.Sprintf(format, args...)}
}

// databasePage is one page of DescribeUniBackupDatabase's answer.
type databasePage struct {
	DatabaseList []Database `json:"DatabaseList"`
	PageInfo     struct {
		TotalCount int `json:"TotalCount"`
	} `json:"PageInfo"`
}

// describePage asks for one page, again after a passing failure while
// paging.Attempts and the context's deadline allow.
func (c *Client) describePage(ctx context.Context, creds secret.Credentials, region, dbType string, page int, paging Paging) (databasePage, error) {
	for attempt := 1; ; attempt++ {
		answer, err := c.askPage(ctx, creds, region, dbType, page, paging)
		if err == nil || !failure.ClassOf(err).Retryable() || attempt >= paging.Attempts || ctx.Err() != nil {
			return answer, err
		}
		pause := failure.Backoff(err, attempt)
		if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < pause+paging.Timeout {
			return answer, err // no time left to ask again
		}
		t := time.NewTimer(pause)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return answer, err
		}
	}
}

// askPage makes one request of a page.
func (c *Client) askPage(ctx context.Context, creds secret.Credentials, region, dbType string, page int, paging Paging) (databasePage, error) {
	if paging.Pace != nil {
		if err := paging.Pace(ctx); err != nil {
			return databasePage{}, &failure.Error{Service: service, Op: describeOp, Class: failure.Transient, Message: "waiting for the rate limit: " + err.Error(), Err: err}
		}
	}
	if paging.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, paging.Timeout)
		defer cancel()
	}
	body, err := c.call(ctx, creds, describeOp, map[string]string{
		"UniRegionId": region, "DatabaseType": dbType,
		"CurrentPage": strconv.Itoa(page), "PageSize": strconv.Itoa(describePageSize),
	})
	if err != nil {
		return databasePage{}, err
	}
	var answer databasePage
	if err := json.Unmarshal(body, &answer); err != nil {
		return databasePage{}, describeFailure(failure.Transient, 200, "page %d: answer is not the expected JSON object: %v", page, err)
	}
	return answer, nil
}
