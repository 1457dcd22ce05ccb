package securitycenter

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"precheckwatch/localcloud/clock"
	"precheckwatch/localcloud/fault"
)

const (
	akID      = "LTAI5tTestAccessKey"
	akSecret  = "test-secret"
	stsID     = "STS.NTestStsKey"
	stsSecret = "sts-secret"
	stsToken  = "CAIS+token/with=chars"
)

type fixture struct {
	srv    *Server
	url    string
	clock  *clock.Manual
	faults *fault.Injector
	nonce  int
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{clock: clock.At(time.Now().UTC()), faults: fault.New(7)}
	f.srv = New(Config{
		Accounts:  []Account{{AccessKeyID: "LTAI5tDenied", AccessKeySecret: "denied-secret", DeniedActions: []string{ActionQueryPreCheckDatabase}}},
		Faults:    f.faults,
		Now:       f.clock.Now,
		HangLimit: 2 * time.Second,
	})
	f.srv.AddAccount(akID, akSecret)
	f.srv.AddSTS(stsID, stsSecret, stsToken)
	ts := httptest.NewServer(f.srv)
	t.Cleanup(ts.Close)
	f.url = ts.URL
	return f
}

// params returns the parameters the v1 SDK sends for action, unsigned.
func (f *fixture) params(action string, business map[string]string) map[string]string {
	f.nonce++
	p := map[string]string{
		"Action": action, "Version": APIVersion, "Format": "JSON", "AccessKeyId": akID,
		"SignatureMethod": "HMAC-SHA1", "SignatureVersion": "1.0", "SignatureType": "",
		"SignatureNonce": fmt.Sprintf("%032x", f.nonce), "Timestamp": f.clock.Now().Format(timestampLayout),
		"RegionId": "cn-shanghai",
	}
	for k, v := range business {
		p[k] = v
	}
	return p
}

func sign(method string, p map[string]string, secret string) map[string]string {
	p["Signature"] = Signature(StringToSign(method, p), secret)
	return p
}

func encode(p map[string]string) string {
	v := url.Values{}
	for k, s := range p {
		v.Set(k, s)
	}
	return v.Encode()
}

type answer struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

func send(t *testing.T, req *http.Request) answer {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	a := answer{status: resp.StatusCode, header: resp.Header, raw: string(raw)}
	if err := json.Unmarshal(raw, &a.body); err != nil {
		t.Fatalf("body is not a JSON object: %q", raw)
	}
	return a
}

func (f *fixture) post(t *testing.T, query string) answer {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, f.url+"/?"+query, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return send(t, req)
}

// call signs p with the AK secret and POSTs it the SDK's way.
func (f *fixture) call(t *testing.T, action string, business map[string]string) answer {
	t.Helper()
	return f.post(t, encode(sign("POST", f.params(action, business), akSecret)))
}

// checkErrorBody asserts the gateway's error shape: the five fields, all strings.
func checkErrorBody(t *testing.T, a answer) {
	t.Helper()
	for _, field := range []string{"RequestId", "HostId", "Code", "Message", "Recommend"} {
		if s, ok := a.body[field].(string); !ok || s == "" {
			t.Errorf("error body field %s = %#v, want a non-empty string; body %s", field, a.body[field], a.raw)
		}
	}
	if a.body["RequestId"] != a.header.Get("x-acs-request-id") {
		t.Errorf("RequestId %v differs from header %q", a.body["RequestId"], a.header.Get("x-acs-request-id"))
	}
}

func TestGatewayChecks(t *testing.T) {
	f := newFixture(t)
	query := map[string]string{"UniRegionId": "cn-hangzhou", "TaskId": "t-unknown"}
	signedQuery := func(edit func(p map[string]string)) string {
		p := f.params(ActionQueryPreCheckDatabase, query)
		edit(p)
		return encode(sign("POST", p, akSecret))
	}
	tests := []struct {
		name       string
		method     string
		path       string
		query      func() string
		body       string
		wantStatus int
		wantCode   string
	}{
		{"signed query", "POST", "/", func() string { return signedQuery(func(map[string]string) {}) }, "", 200, ""},
		{"GET works too", "GET", "/", func() string {
			return encode(sign("GET", f.params(ActionQueryPreCheckDatabase, query), akSecret))
		}, "", 200, ""},
		{"business param in form body is signed", "POST", "/", func() string {
			p := f.params(ActionQueryPreCheckDatabase, query)
			p["UniRegionId"] = "cn-beijing" // the body's value, signed; removed from the query below
			sign("POST", p, akSecret)
			delete(p, "UniRegionId")
			return encode(p)
		}, "UniRegionId=cn-beijing", 200, ""},
		{"wrong path", "POST", "/v1/", func() string { return signedQuery(func(map[string]string) {}) }, "", 404, "InvalidAction.NotFound"},
		{"wrong method", "PUT", "/", func() string { return signedQuery(func(map[string]string) {}) }, "", 404, "InvalidAction.NotFound"},
		{"duplicate key in query", "POST", "/", func() string { return signedQuery(func(map[string]string) {}) + "&TaskId=t-2" }, "", 400, "InvalidParameter"},
		{"key in query and body", "POST", "/", func() string { return signedQuery(func(map[string]string) {}) }, "TaskId=t-2", 400, "InvalidParameter"},
		{"malformed query", "POST", "/", func() string { return "Action=%zz" }, "", 400, "InvalidParameter"},
		{"no Action", "POST", "/", func() string { return signedQuery(func(p map[string]string) { delete(p, "Action") }) }, "", 400, "MissingParameter"},
		{"empty Timestamp", "POST", "/", func() string { return signedQuery(func(p map[string]string) { p["Timestamp"] = "" }) }, "", 400, "MissingParameter"},
		{"no Signature", "POST", "/", func() string {
			p := f.params(ActionQueryPreCheckDatabase, query)
			return encode(p)
		}, "", 400, "IncompleteSignature"},
		{"HMAC-SHA256", "POST", "/", func() string { return signedQuery(func(p map[string]string) { p["SignatureMethod"] = "HMAC-SHA256" }) }, "", 400, "IncompleteSignature"},
		{"old Version", "POST", "/", func() string { return signedQuery(func(p map[string]string) { p["Version"] = "2018-12-01" }) }, "", 400, "InvalidVersion"},
		{"unknown Action", "POST", "/", func() string { return signedQuery(func(p map[string]string) { p["Action"] = "DescribeRegions" }) }, "", 404, "InvalidAction.NotFound"},
		{"Timestamp not ISO 8601 UTC", "POST", "/", func() string {
			return signedQuery(func(p map[string]string) { p["Timestamp"] = f.clock.Now().Format(time.RFC1123) })
		}, "", 400, "InvalidTimeStamp.Format"},
		{"Timestamp 16 minutes old", "POST", "/", func() string {
			return signedQuery(func(p map[string]string) {
				p["Timestamp"] = f.clock.Now().Add(-16 * time.Minute).Format(timestampLayout)
			})
		}, "", 400, "InvalidTimeStamp.Expired"},
		{"Timestamp 16 minutes ahead", "POST", "/", func() string {
			return signedQuery(func(p map[string]string) {
				p["Timestamp"] = f.clock.Now().Add(16 * time.Minute).Format(timestampLayout)
			})
		}, "", 400, "InvalidTimeStamp.Expired"},
		{"Timestamp 14 minutes old", "POST", "/", func() string {
			return signedQuery(func(p map[string]string) {
				p["Timestamp"] = f.clock.Now().Add(-14 * time.Minute).Format(timestampLayout)
			})
		}, "", 200, ""},
		{"unknown access key", "POST", "/", func() string { return signedQuery(func(p map[string]string) { p["AccessKeyId"] = "LTAI5tNobody" }) }, "", 404, "InvalidAccessKeyId.NotFound"},
		{"STS key without token", "POST", "/", func() string {
			p := f.params(ActionQueryPreCheckDatabase, query)
			p["AccessKeyId"] = stsID
			return encode(sign("POST", p, stsSecret))
		}, "", 400, "MissingSecurityToken"},
		{"STS key with another token", "POST", "/", func() string {
			p := f.params(ActionQueryPreCheckDatabase, query)
			p["AccessKeyId"], p["SecurityToken"] = stsID, "CAIS+other"
			return encode(sign("POST", p, stsSecret))
		}, "", 400, "InvalidSecurityToken.MismatchWithAccessKey"},
		{"STS key with its token", "POST", "/", func() string {
			p := f.params(ActionQueryPreCheckDatabase, query)
			p["AccessKeyId"], p["SecurityToken"] = stsID, stsToken
			return encode(sign("POST", p, stsSecret))
		}, "", 200, ""},
		{"wrong secret", "POST", "/", func() string {
			return encode(sign("POST", f.params(ActionQueryPreCheckDatabase, query), "not-the-secret"))
		}, "", 400, "SignatureDoesNotMatch"},
		{"empty SignatureType left out of the signature", "POST", "/", func() string {
			p := f.params(ActionQueryPreCheckDatabase, query)
			delete(p, "SignatureType")
			sign("POST", p, akSecret)
			p["SignatureType"] = ""
			return encode(p)
		}, "", 400, "SignatureDoesNotMatch"},
		{"signed as GET, sent as POST", "POST", "/", func() string {
			return encode(sign("GET", f.params(ActionQueryPreCheckDatabase, query), akSecret))
		}, "", 400, "SignatureDoesNotMatch"},
		{"no UniRegionId", "POST", "/", func() string { return signedQuery(func(p map[string]string) { delete(p, "UniRegionId") }) }, "", 400, "MissingParameter"},
		{"start without InstanceUuid", "POST", "/", func() string {
			return encode(sign("POST", f.params(ActionStartPreCheckDatabase, map[string]string{"UniRegionId": "cn-hangzhou", "DatabaseType": "MYSQL"}), akSecret))
		}, "", 400, "MissingParameter"},
		{"start with lower-case type", "POST", "/", func() string {
			return encode(sign("POST", f.params(ActionStartPreCheckDatabase, map[string]string{"UniRegionId": "cn-hangzhou", "DatabaseType": "mysql", "InstanceUuid": "u1"}), akSecret))
		}, "", 400, "InvalidParam"},
		{"describe with PageSize 0", "POST", "/", func() string {
			return encode(sign("POST", f.params(ActionDescribeUniBackupDatabase, map[string]string{"PageSize": "0"}), akSecret))
		}, "", 400, "InvalidParameter"},
		{"denied action", "POST", "/", func() string {
			p := f.params(ActionQueryPreCheckDatabase, query)
			p["AccessKeyId"] = "LTAI5tDenied"
			return encode(sign("POST", p, "denied-secret"))
		}, "", 403, "NoPermission"},
		{"denied key, allowed action", "POST", "/", func() string {
			p := f.params(ActionDescribeUniBackupDatabase, nil)
			p["AccessKeyId"] = "LTAI5tDenied"
			return encode(sign("POST", p, "denied-secret"))
		}, "", 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, f.url+tt.path+"?"+tt.query(), strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			a := send(t, req)
			if a.status != tt.wantStatus {
				t.Fatalf("status %d, want %d; body %s", a.status, tt.wantStatus, a.raw)
			}
			if a.status == 200 {
				if _, ok := a.body["RequestId"].(string); !ok {
					t.Errorf("success body without RequestId: %s", a.raw)
				}
				return
			}
			checkErrorBody(t, a)
			if a.body["Code"] != tt.wantCode {
				t.Errorf("Code %v, want %s; body %s", a.body["Code"], tt.wantCode, a.raw)
			}
		})
	}
}

func TestSignatureDoesNotMatchEchoesStringToSign(t *testing.T) {
	f := newFixture(t)
	p := f.params(ActionQueryPreCheckDatabase, map[string]string{"UniRegionId": "cn-hangzhou", "TaskId": "t 1*~"})
	sign("POST", p, "wrong")
	a := f.post(t, encode(p))
	const marker = "server string to sign is:"
	msg, _ := a.body["Message"].(string)
	want := StringToSign("POST", p)
	if !strings.HasSuffix(msg, marker+want) || strings.Count(msg, marker) != 1 {
		t.Errorf("Message %q does not end with %q", msg, marker+want)
	}
	if !strings.Contains(want, "TaskId%3Dt%25201%252A~") {
		t.Errorf("string to sign %q does not percent-encode space and * the gateway's way", want)
	}
}

func TestNonceReuse(t *testing.T) {
	f := newFixture(t)
	p := f.params(ActionQueryPreCheckDatabase, map[string]string{"UniRegionId": "cn-hangzhou"})
	query := encode(sign("POST", p, akSecret))
	if a := f.post(t, query); a.status != 200 {
		t.Fatalf("first use: %d %s", a.status, a.raw)
	}
	a := f.post(t, query)
	if a.status != 400 || a.body["Code"] != "SignatureNonceUsed" {
		t.Fatalf("replay: %d %s", a.status, a.raw)
	}
	checkErrorBody(t, a)

	// After the window the nonce may be used again (with a fresh timestamp).
	f.clock.Advance(16 * time.Minute)
	p["Timestamp"] = f.clock.Now().Format(timestampLayout)
	if a := f.post(t, encode(sign("POST", p, akSecret))); a.status != 200 {
		t.Fatalf("nonce after the window: %d %s", a.status, a.raw)
	}
}

func TestExpiredSTS(t *testing.T) {
	f := newFixture(t)
	f.srv.ExpireSTS(stsID)
	p := f.params(ActionQueryPreCheckDatabase, map[string]string{"UniRegionId": "cn-hangzhou"})
	p["AccessKeyId"], p["SecurityToken"] = stsID, stsToken
	a := f.post(t, encode(sign("POST", p, stsSecret)))
	if a.status != 400 || a.body["Code"] != "InvalidParameter" || !strings.Contains(a.raw, "SecurityToken.Expired") {
		t.Fatalf("expired STS: %d %s", a.status, a.raw)
	}
}

func TestFaults(t *testing.T) {
	tests := []struct {
		kind       fault.Kind
		wantStatus []int
		wantCode   []string
	}{
		{fault.Throttle, []int{400, 400}, []string{"Throttling.User", "Throttling.User"}},
		{fault.Server, []int{503, 500}, []string{"ServiceUnavailable", "ServerError"}},
	}
	for _, tt := range tests {
		t.Run(string(tt.kind), func(t *testing.T) {
			f := newFixture(t)
			f.faults.Set(tt.kind, 1)
			for i := range tt.wantStatus {
				a := f.call(t, ActionQueryPreCheckDatabase, map[string]string{"UniRegionId": "cn-hangzhou"})
				if a.status != tt.wantStatus[i] || a.body["Code"] != tt.wantCode[i] {
					t.Fatalf("answer %d: %d %s", i, a.status, a.raw)
				}
				checkErrorBody(t, a)
			}
			f.faults.Reset()
			if a := f.call(t, ActionQueryPreCheckDatabase, map[string]string{"UniRegionId": "cn-hangzhou"}); a.status != 200 {
				t.Fatalf("after reset: %d %s", a.status, a.raw)
			}
		})
	}
}

func TestHangEndsWhenClientGivesUp(t *testing.T) {
	f := newFixture(t)
	f.faults.Set(fault.Hang, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost,
		f.url+"/?"+encode(sign("POST", f.params(ActionQueryPreCheckDatabase, map[string]string{"UniRegionId": "x"}), akSecret)), nil)
	resp, err := http.DefaultClient.Do(req)
	if err == nil {
		resp.Body.Close()
		t.Fatalf("hang answered %d before the client's deadline", resp.StatusCode)
	}
	if ctx.Err() == nil {
		t.Fatalf("request failed before the deadline: %v", err)
	}
}

func TestHangIsBounded(t *testing.T) {
	f := newFixture(t)
	f.srv.hangLimit = 50 * time.Millisecond
	f.faults.Set(fault.Hang, 1)
	a := f.call(t, ActionQueryPreCheckDatabase, map[string]string{"UniRegionId": "x"})
	if a.status != 503 {
		t.Fatalf("bounded hang: %d %s", a.status, a.raw)
	}
}

// statusOf polls task id once and returns the answer's body.
func (f *fixture) statusOf(t *testing.T, id, region string) map[string]any {
	t.Helper()
	a := f.call(t, ActionQueryPreCheckDatabase, map[string]string{"TaskId": id, "UniRegionId": region})
	if a.status != 200 {
		t.Fatalf("query %s: %d %s", id, a.status, a.raw)
	}
	return a.body
}

func TestScriptedPolls(t *testing.T) {
	f := newFixture(t)
	result := ResultJSON(Check(SourceOracle, "i-oracle01", f.clock.Now(), map[string]string{"ARCHIVELOG": "FAILED"}))
	tasks := []Task{
		{ID: "t-polls", DatabaseType: "Oracle", UniRegionID: "cn-hangzhou", Polls: []int{0, 30, 60, 100}, Result: result},
		{ID: "t-fails", DatabaseType: "MYSQL", Polls: []int{0, 40}, Description: DescriptionError},
	}
	for _, task := range tasks {
		if err := f.srv.AddTask(task); err != nil {
			t.Fatal(err)
		}
	}
	want := []struct {
		progress    float64
		description string
	}{{0, "created"}, {30, "created"}, {60, "created"}, {100, "completed"}, {100, "completed"}}
	for i, w := range want {
		b := f.statusOf(t, "t-polls", "cn-hangzhou")
		if b["Progress"] != w.progress || b["Description"] != w.description {
			t.Fatalf("poll %d: %v", i, b)
		}
		_, hasCompleted := b["CompletedTime"]
		if done := w.description == "completed"; done != hasCompleted || (done && b["Result"] != result) || (!done && b["Result"] != "") {
			t.Fatalf("poll %d: Result/CompletedTime wrong: %v", i, b)
		}
	}
	f.statusOf(t, "t-fails", "cn-beijing")
	if b := f.statusOf(t, "t-fails", "cn-beijing"); b["Description"] != "error" || b["Progress"] != 40.0 || b["Result"] != "" {
		t.Fatalf("error task: %v", b)
	}
	// Another region does not see the task.
	if b := f.statusOf(t, "t-polls", "cn-beijing"); len(b) != 1 {
		t.Fatalf("task seen from another region: %v", b)
	}
	if err := f.srv.AddTask(tasks[0]); err == nil {
		t.Error("duplicate task id accepted")
	}
	for _, bad := range []Task{{DatabaseType: "MYSQL"}, {ID: "x", DatabaseType: "PostgreSQL"}, {ID: "y", DatabaseType: "MYSQL", Polls: []int{101}}, {ID: "z", DatabaseType: "MSSQL", Description: "done"}} {
		if err := f.srv.AddTask(bad); err == nil {
			t.Errorf("AddTask(%+v) accepted", bad)
		}
	}
}

func TestTimedTaskAndUnknownTask(t *testing.T) {
	f := newFixture(t)
	if err := f.srv.AddTask(Task{ID: "t-timed", DatabaseType: "MSSQL", InstanceID: "i-mssql", Duration: 2 * time.Minute}); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		advance  time.Duration
		progress float64
		desc     string
	}{{0, 0, "created"}, {time.Minute, 50, "created"}, {59 * time.Second, 99, "created"}, {time.Second, 100, "completed"}}
	for _, s := range steps {
		f.clock.Advance(s.advance)
		b := f.statusOf(t, "t-timed", "any-region")
		if b["Progress"] != s.progress || b["Description"] != s.desc {
			t.Fatalf("after %v: %v", s.advance, b)
		}
	}
	var parsed []InstanceResult
	if err := json.Unmarshal([]byte(f.statusOf(t, "t-timed", "r")["Result"].(string)), &parsed); err != nil {
		t.Fatal(err)
	}
	if len(parsed) != 1 || parsed[0].SourceType != SourceMSSQL || parsed[0].InstanceID != "i-mssql" || len(parsed[0].Results) != 4 {
		t.Fatalf("default MSSQL result: %+v", parsed)
	}
	if b := f.statusOf(t, "t-nosuchtask", "cn-hangzhou"); len(b) != 1 || b["RequestId"] == nil {
		t.Fatalf("unknown task answered %v, want only RequestId", b)
	}
}

func TestStartThenQuery(t *testing.T) {
	f := newFixture(t)
	f.srv.AddDatabase(Database{InstanceUUID: "uuid-ora", InstanceID: "i-ora", DatabaseType: "Oracle", UniRegionID: "cn-hangzhou",
		Precheck: map[string]string{"ARCHIVELOG": "FAILED", "NEW_ITEM": "UNKNOWN"}})
	a := f.call(t, ActionStartPreCheckDatabase, map[string]string{"DatabaseType": "Oracle", "UniRegionId": "cn-hangzhou", "InstanceUuid": "uuid-ora"})
	id, _ := a.body["CreateMark"].(string)
	if a.status != 200 || len(id) != 22 || !strings.HasPrefix(id, "t-") {
		t.Fatalf("start: %d %s", a.status, a.raw)
	}
	if b := f.statusOf(t, id, "cn-hangzhou"); b["Description"] != "created" || b["Result"] != "" {
		t.Fatalf("fresh task: %v", b)
	}
	f.clock.Advance(time.Minute)
	b := f.statusOf(t, id, "cn-hangzhou")
	if b["Description"] != "completed" || b["Progress"] != 100.0 {
		t.Fatalf("after a minute: %v", b)
	}
	var parsed []InstanceResult
	if err := json.Unmarshal([]byte(b["Result"].(string)), &parsed); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, r := range parsed[0].Results {
		got[r.Item] = r.Result
	}
	if parsed[0].SourceType != SourceOracle || parsed[0].InstanceID != "i-ora" || got["ARCHIVELOG"] != "FAILED" ||
		got["NEW_ITEM"] != "UNKNOWN" || got["ORACLE_DB_STATUS"] != Passed || len(got) != 6 {
		t.Fatalf("result %+v", parsed)
	}
	// Without TaskId the instance's latest task answers.
	a = f.call(t, ActionQueryPreCheckDatabase, map[string]string{"InstanceUuid": "uuid-ora", "UniRegionId": "cn-hangzhou"})
	if a.body["Description"] != "completed" {
		t.Fatalf("query by instance: %s", a.raw)
	}
	if f.srv.Calls(ActionStartPreCheckDatabase) != 1 || f.srv.Calls(ActionQueryPreCheckDatabase) != 3 {
		t.Errorf("call counts %v", f.srv.CallCounts())
	}
}

func TestDescribeUniBackupDatabase(t *testing.T) {
	f := newFixture(t)
	for i := range 5 {
		f.srv.AddDatabase(Database{InstanceUUID: fmt.Sprint("uuid-", i), InstanceID: fmt.Sprint("i-", i), InstanceName: fmt.Sprint("db-", i),
			DatabaseType: []string{"MYSQL", "MSSQL"}[i%2], UniRegionID: "cn-hangzhou", PolicyID: int64(i)})
	}
	tests := []struct {
		params    map[string]string
		wantCount int
		wantTotal int
	}{
		{nil, 5, 5},
		{map[string]string{"DatabaseType": "MYSQL"}, 3, 3},
		{map[string]string{"PageSize": "2", "CurrentPage": "3"}, 1, 5},
		{map[string]string{"PageSize": "2", "CurrentPage": "99999999999999"}, 0, 5},
		{map[string]string{"UniRegionId": "cn-beijing"}, 0, 0},
	}
	for _, tt := range tests {
		a := f.call(t, ActionDescribeUniBackupDatabase, tt.params)
		list, _ := a.body["DatabaseList"].([]any)
		page, _ := a.body["PageInfo"].(map[string]any)
		if a.status != 200 || len(list) != tt.wantCount || page["TotalCount"] != float64(tt.wantTotal) {
			t.Errorf("%v: %d %s", tt.params, a.status, a.raw)
		}
	}
}

func TestConcurrentUse(t *testing.T) {
	f := newFixture(t)
	if err := f.srv.AddTask(Task{ID: "t-shared", DatabaseType: "MYSQL", Polls: []int{0, 50, 100}}); err != nil {
		t.Fatal(err)
	}
	queries := make([]string, 16)
	for i := range queries {
		queries[i] = encode(sign("POST", f.params(ActionQueryPreCheckDatabase, map[string]string{"TaskId": "t-shared", "UniRegionId": "r"}), akSecret))
	}
	var wg sync.WaitGroup
	for _, q := range queries {
		wg.Go(func() {
			req, _ := http.NewRequest(http.MethodPost, f.url+"/?"+q, nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Errorf("status %d", resp.StatusCode)
			}
		})
	}
	wg.Wait()
	if n := f.srv.Calls(ActionQueryPreCheckDatabase); n != len(queries) {
		t.Errorf("counted %d queries, want %d", n, len(queries))
	}
}

// FuzzServeHTTP feeds the handler arbitrary requests: it must always answer
// a JSON object, never panic.
func FuzzServeHTTP(f *testing.F) {
	f.Add("POST", "/", "Action=QueryPreCheckDatabase&Version=2018-12-03", "application/x-www-form-urlencoded", "UniRegionId=x")
	f.Add("GET", "/", "%", "", "")
	f.Add("POST", "/", "a=1&a=2", "application/x-www-form-urlencoded", "a=3")
	f.Add("POST", "/", "Timestamp=9999-99-99T99:99:99Z&Action=StartPreCheckDatabase", "multipart/form-data; boundary=x", "--x--")
	f.Add("DELETE", "/x", ";;;", "text/plain", "\x00\xff")
	f.Add("POST", "/", "Action=DescribeUniBackupDatabase&Version=2018-12-03&AccessKeyId=a&Timestamp=2024-01-01T00:00:00Z&SignatureNonce=n&Signature=s&SignatureMethod=HMAC-SHA1&SignatureVersion=1.0", "application/x-www-form-urlencoded", "PageSize=-1")
	srv := New(Config{Accounts: []Account{{AccessKeyID: "a", AccessKeySecret: "s"}}, Now: func() time.Time {
		return time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	}})
	f.Fuzz(func(t *testing.T, method, path, rawQuery, contentType, body string) {
		req := httptest.NewRequest(http.MethodGet, "/", strings.NewReader(body))
		req.Method, req.URL.Path, req.URL.RawQuery = method, path, rawQuery
		req.Header.Set("Content-Type", contentType)
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		var out map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
			t.Fatalf("answer %d is not a JSON object: %q", rec.Code, rec.Body.String())
		}
		if rec.Code != 200 {
			for k, v := range out {
				if _, ok := v.(string); !ok {
					t.Fatalf("error field %s is %T", k, v)
				}
			}
		}
	})
}

func TestGenerateFleet(t *testing.T) {
	fleet := GenerateFleet(400, 7)
	if again := GenerateFleet(400, 7); !reflect.DeepEqual(fleet, again) {
		t.Fatal("the same n and seed gave two fleets")
	}
	regions, types, uuids := map[string]int{}, map[string]int{}, map[string]bool{}
	notReady := 0
	for _, d := range fleet {
		regions[d.UniRegionID]++
		types[d.DatabaseType]++
		uuids[d.InstanceUUID] = true
		if len(d.Precheck) > 0 {
			notReady++
		}
		if d.PrecheckDuration < time.Second || d.PrecheckDuration > 5*time.Second || d.AgentStatus != "INSTALLED" {
			t.Fatalf("database %+v", d)
		}
	}
	if len(regions) != len(FleetRegions) || len(types) != 3 || len(uuids) != len(fleet) || notReady < 20 || notReady > 80 {
		t.Fatalf("fleet of 400: regions %v, types %v, %d agents, %d not ready", regions, types, len(uuids), notReady)
	}
}

// TestFleetPagesAndPrechecks lists a generated fleet page by page with and
// without the filters the API takes, then starts a precheck on one of its
// databases and follows it to its scripted end.
func TestFleetPagesAndPrechecks(t *testing.T) {
	f := newFixture(t)
	fleet := GenerateFleet(250, 3)
	want := map[string]int{}
	for _, d := range fleet {
		f.srv.AddDatabase(d)
		want[""]++
		want[d.UniRegionID]++
		want[d.UniRegionID+"/"+d.DatabaseType]++
	}
	for _, tc := range []struct{ region, dbType string }{{"", ""}, {"cn-hangzhou", ""}, {"ap-southeast-1", "MSSQL"}, {"cn-beijing", "Oracle"}} {
		seen := map[string]bool{}
		for page := 1; ; page++ {
			a := f.call(t, ActionDescribeUniBackupDatabase, map[string]string{"UniRegionId": tc.region, "DatabaseType": tc.dbType,
				"PageSize": "40", "CurrentPage": fmt.Sprint(page)})
			list, _ := a.body["DatabaseList"].([]any)
			info, _ := a.body["PageInfo"].(map[string]any)
			if a.status != 200 || info["PageSize"] != 40.0 || info["CurrentPage"] != float64(page) || info["Count"] != float64(len(list)) {
				t.Fatalf("%+v page %d: %d %s", tc, page, a.status, a.raw)
			}
			for _, e := range list {
				seen[e.(map[string]any)["InstanceUuid"].(string)] = true
			}
			if len(list) < 40 {
				break
			}
		}
		key := tc.region
		if tc.dbType != "" {
			key += "/" + tc.dbType
		}
		if len(seen) != want[key] {
			t.Errorf("%+v: listed %d databases over its pages, want %d", tc, len(seen), want[key])
		}
	}

	var failing Database
	for _, d := range fleet {
		if len(d.Precheck) > 0 {
			failing = d
			break
		}
	}
	a := f.call(t, ActionStartPreCheckDatabase, map[string]string{"DatabaseType": failing.DatabaseType, "UniRegionId": failing.UniRegionID, "InstanceUuid": failing.InstanceUUID})
	id, _ := a.body["CreateMark"].(string)
	f.clock.Advance(failing.PrecheckDuration - time.Millisecond)
	if b := f.statusOf(t, id, failing.UniRegionID); b["Description"] != DescriptionCreated {
		t.Fatalf("just before its scripted end: %v", b)
	}
	f.clock.Advance(time.Millisecond)
	b := f.statusOf(t, id, failing.UniRegionID)
	var parsed []InstanceResult
	if err := json.Unmarshal([]byte(b["Result"].(string)), &parsed); err != nil || b["Description"] != DescriptionCompleted || len(parsed) != 1 {
		t.Fatalf("at its scripted end: %v (%v)", b, err)
	}
	for _, r := range parsed[0].Results {
		if want, scripted := failing.Precheck[r.Item]; scripted && r.Result != want || !scripted && r.Result != Passed {
			t.Errorf("item %s: %s, want %v", r.Item, r.Result, failing.Precheck)
		}
	}
	if got := f.srv.Starts(); len(got) != 1 || got[failing.InstanceUUID] != 1 {
		t.Fatalf("Starts = %v", got)
	}
}

func TestUpdateAndRemoveDatabase(t *testing.T) {
	f := newFixture(t)
	for _, d := range GenerateFleet(3, 1) {
		f.srv.AddDatabase(d)
	}
	d := GenerateFleet(3, 1)[0]
	if !f.srv.UpdateDatabase(d.InstanceUUID, func(d *Database) { d.PrecheckDescription, d.PrecheckDuration = DescriptionError, time.Second }) {
		t.Fatal("UpdateDatabase did not find the database")
	}
	a := f.call(t, ActionStartPreCheckDatabase, map[string]string{"DatabaseType": d.DatabaseType, "UniRegionId": d.UniRegionID, "InstanceUuid": d.InstanceUUID})
	f.clock.Advance(time.Second)
	if b := f.statusOf(t, a.body["CreateMark"].(string), d.UniRegionID); b["Description"] != DescriptionError || b["Result"] != "" {
		t.Fatalf("after the change to an error: %v", b)
	}
	if !f.srv.RemoveDatabase(d.InstanceUUID) || f.srv.RemoveDatabase(d.InstanceUUID) || f.srv.UpdateDatabase(d.InstanceUUID, func(*Database) {}) {
		t.Fatal("RemoveDatabase removed nothing, or twice")
	}
	list, _ := f.call(t, ActionDescribeUniBackupDatabase, nil).body["DatabaseList"].([]any)
	if len(list) != 2 {
		t.Fatalf("after a removal %d databases listed, want 2", len(list))
	}
}
