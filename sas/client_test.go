package sas

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/auth/credentials"
	sdkerr "github.com/aliyun/alibaba-cloud-sdk-go/sdk/errors"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"

	"precheckwatch/failure"
	"precheckwatch/internal/waitfor"
	"precheckwatch/localcloud/clock"
	"precheckwatch/localcloud/fault"
	"precheckwatch/localcloud/securitycenter"
	"precheckwatch/secret"
)

const (
	akID      = "LTAI5tPrecheckTest"
	akSecret  = "ak-secret-value"
	stsID     = "STS.NPrecheckTest"
	stsSecret = "sts-secret-value"
	stsToken  = "CAIS+sts/token=value"
)

var (
	akCreds  = secret.Credentials{AccessKeyID: akID, AccessKeySecret: akSecret}
	stsCreds = secret.Credentials{AccessKeyID: stsID, AccessKeySecret: stsSecret, SecurityToken: stsToken}
)

// env is a Security Center emulator on loopback and a Client pointed at it.
type env struct {
	emu    *securitycenter.Server
	clock  *clock.Manual
	faults *fault.Injector
	url    string
	client *Client
}

func newEnv(t *testing.T, transport http.RoundTripper) *env {
	t.Helper()
	e := &env{clock: clock.At(time.Now()), faults: fault.New(3)}
	e.emu = securitycenter.New(securitycenter.Config{
		Faults: e.faults, Now: e.clock.Now, PrecheckDuration: time.Minute, HangLimit: 10 * time.Second,
	})
	e.emu.AddAccount(akID, akSecret)
	e.emu.AddSTS(stsID, stsSecret, stsToken)
	ts := httptest.NewServer(e.emu)
	t.Cleanup(ts.Close)
	e.url = ts.URL
	var err error
	if e.client, err = New(Config{Endpoint: ts.URL, Region: "cn-hangzhou", Transport: transport}); err != nil {
		t.Fatal(err)
	}
	return e
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestEndpoint(t *testing.T) {
	tests := []struct {
		endpoint, region  string
		wantURL, wantSite string
		wantErrContains   string
	}{
		{"", "cn-hangzhou", "https://tds.cn-shanghai.aliyuncs.com", "cn-shanghai", ""},
		{"", "cn-hongkong", "https://tds.cn-shanghai.aliyuncs.com", "cn-shanghai", ""},
		{"", "ap-southeast-5", "https://tds.ap-southeast-1.aliyuncs.com", "ap-southeast-1", ""},
		{"", "eu-central-1", "https://tds.ap-southeast-1.aliyuncs.com", "ap-southeast-1", ""},
		{"tds.ap-southeast-1.aliyuncs.com", "cn-beijing", "https://tds.ap-southeast-1.aliyuncs.com", "ap-southeast-1", ""},
		{"http://127.0.0.1:9200", "", "http://127.0.0.1:9200", "cn-shanghai", ""},
		{"HTTP://127.0.0.1:9200/", "us-east-1", "http://127.0.0.1:9200", "ap-southeast-1", ""},
		{"https://tds.vpc-proxy.aliyuncs.com", "cn-shanghai", "https://tds.vpc-proxy.aliyuncs.com", "cn-shanghai", ""},
		{"127.0.0.1:9200", "", "https://127.0.0.1:9200", "cn-shanghai", ""},
		{"[::1]:9200", "", "https://[::1]:9200", "cn-shanghai", ""},
		{"", "", "", "", "SAS_ENDPOINT"},
		{"ftp://host", "", "", "", "scheme"},
		{"http://host/path", "", "", "", "only scheme, host and port"},
		{"http://user:pw@host", "", "", "", "only scheme, host and port"},
		{"http://", "", "", "", "no host"},
		{"host/path", "", "", "", "neither a host"},
		{"host name", "", "", "", "neither a host"},
	}
	for _, tt := range tests {
		t.Run(tt.endpoint+"|"+tt.region, func(t *testing.T) {
			c, err := New(Config{Endpoint: tt.endpoint, Region: tt.region})
			if tt.wantErrContains != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErrContains) {
					t.Fatalf("err = %v, want one mentioning %q", err, tt.wantErrContains)
				}
				if strings.Contains(err.Error(), "pw") {
					t.Errorf("error leaks the URL's password: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.Endpoint() != tt.wantURL || c.regionID != tt.wantSite {
				t.Errorf("endpoint %s site %s, want %s %s", c.Endpoint(), c.regionID, tt.wantURL, tt.wantSite)
			}
		})
	}
}

func TestQueryPreCheckFollowsProgress(t *testing.T) {
	for _, creds := range []secret.Credentials{akCreds, stsCreds} {
		t.Run(creds.AccessKeyID, func(t *testing.T) {
			e := newEnv(t, nil)
			result := securitycenter.ResultJSON(securitycenter.Check(securitycenter.SourceMSSQL, "i-mssql01", e.clock.Now(),
				map[string]string{"SQL_SERVER_DB_IN_SIMPLE_RECOVERY_MODE": securitycenter.Warning}))
			if err := e.emu.AddTask(securitycenter.Task{ID: "t-000bc9nqwxsbyvod0001", DatabaseType: "MSSQL", UniRegionID: "cn-hangzhou",
				InstanceUUID: "uuid-1", Polls: []int{0, 30, 60, 100}, Result: result}); err != nil {
				t.Fatal(err)
			}
			var got []string
			for range 4 {
				st, err := e.client.QueryPreCheck(testContext(t), creds, "t-000bc9nqwxsbyvod0001", "cn-hangzhou", "uuid-1")
				if err != nil {
					t.Fatal(err)
				}
				if st.RequestID == "" || st.CreatedTime == 0 {
					t.Errorf("status lacks RequestId or CreatedTime: %+v", st)
				}
				got = append(got, fmt.Sprintf("%d/%s/%t/%t", st.Progress, st.Description, st.Result == result, st.CompletedTime != 0))
			}
			want := []string{"0/created/false/false", "30/created/false/false", "60/created/false/false", "100/completed/true/true"}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("polls %v, want %v", got, want)
			}
		})
	}
}

func TestQueryPreCheckErrorAndUnknownTask(t *testing.T) {
	e := newEnv(t, nil)
	if err := e.emu.AddTask(securitycenter.Task{ID: "t-broken", DatabaseType: "MYSQL", Polls: []int{10}, Description: "error"}); err != nil {
		t.Fatal(err)
	}
	st, err := e.client.QueryPreCheck(testContext(t), akCreds, "t-broken", "cn-hangzhou", "")
	if err != nil || st.Description != "error" || st.Progress != 10 || st.Result != "" {
		t.Fatalf("error task: %+v, %v", st, err)
	}
	st, err = e.client.QueryPreCheck(testContext(t), akCreds, "t-nosuch", "cn-hangzhou", "")
	if err != nil || st.Description != "" || st.Progress != 0 || st.RequestID == "" {
		t.Fatalf("unknown task: %+v, %v", st, err)
	}
}

func TestStartPreCheckThenPollToCompletion(t *testing.T) {
	e := newEnv(t, nil)
	e.emu.AddDatabase(securitycenter.Database{InstanceUUID: "uuid-ora", InstanceID: "i-ora01", DatabaseType: "Oracle",
		UniRegionID: "cn-hangzhou", Precheck: map[string]string{"ARCHIVELOG": "FAILED"}})
	id, err := e.client.StartPreCheck(testContext(t), stsCreds, "oracle", "cn-hangzhou", "uuid-ora")
	if err != nil || !strings.HasPrefix(id, "t-") {
		t.Fatalf("start: %q, %v", id, err)
	}
	st, err := e.client.QueryPreCheck(testContext(t), stsCreds, id, "cn-hangzhou", "uuid-ora")
	if err != nil || st.Description != "created" || st.Progress >= 100 || st.Result != "" {
		t.Fatalf("just started: %+v, %v", st, err)
	}
	e.clock.Advance(30 * time.Second)
	if st, _ = e.client.QueryPreCheck(testContext(t), stsCreds, id, "cn-hangzhou", "uuid-ora"); st.Progress != 50 {
		t.Fatalf("half way: %+v", st)
	}
	e.clock.Advance(30 * time.Second)
	st, err = e.client.QueryPreCheck(testContext(t), stsCreds, id, "cn-hangzhou", "uuid-ora")
	if err != nil || st.Description != "completed" || st.Progress != 100 {
		t.Fatalf("after a minute: %+v, %v", st, err)
	}
	var results []securitycenter.InstanceResult
	if err := json.Unmarshal([]byte(st.Result), &results); err != nil {
		t.Fatal(err)
	}
	if len(results) != 1 || results[0].SourceType != "ORACLE" || results[0].InstanceID != "i-ora01" || !strings.Contains(st.Result, `"FAILED"`) {
		t.Fatalf("result %s", st.Result)
	}
	if _, err := e.client.StartPreCheck(testContext(t), stsCreds, "PostgreSQL", "cn-hangzhou", "uuid-ora"); failure.ClassOf(err) != failure.Permanent {
		t.Errorf("unknown database type: %v", err)
	}
	if n := e.emu.Calls(securitycenter.ActionStartPreCheckDatabase); n != 1 {
		t.Errorf("StartPreCheckDatabase called %d times, want 1 (no call for a bad type)", n)
	}
}

// leaks lists what must never appear in an error's text.
var leaks = []string{akSecret, stsSecret, stsToken, url.QueryEscape(stsToken), url.QueryEscape(url.QueryEscape(stsToken)),
	"Signature=", "string to sign", "SecurityToken%3D"}

func TestErrorsAreClassified(t *testing.T) {
	tests := []struct {
		name       string
		setup      func(e *env)
		creds      secret.Credentials
		region     string
		wantClass  failure.Class
		wantCode   string
		wantStatus int
	}{
		{"wrong secret", nil, secret.Credentials{AccessKeyID: akID, AccessKeySecret: "wrong"}, "cn-hangzhou", failure.Auth, "SignatureDoesNotMatch", 400},
		{"wrong STS secret", nil, secret.Credentials{AccessKeyID: stsID, AccessKeySecret: "wrong", SecurityToken: stsToken}, "cn-hangzhou", failure.Auth, "SignatureDoesNotMatch", 400},
		{"unknown key", nil, secret.Credentials{AccessKeyID: "LTAI5tNobody", AccessKeySecret: "x"}, "cn-hangzhou", failure.Auth, "InvalidAccessKeyId.NotFound", 404},
		{"wrong STS token", nil, secret.Credentials{AccessKeyID: stsID, AccessKeySecret: stsSecret, SecurityToken: "CAIS+other"}, "cn-hangzhou", failure.Auth, "InvalidSecurityToken.MismatchWithAccessKey", 400},
		{"STS keys without token", nil, secret.Credentials{AccessKeyID: stsID, AccessKeySecret: stsSecret}, "cn-hangzhou", failure.Auth, "MissingSecurityToken", 400},
		{"expired STS token", func(e *env) { e.emu.ExpireSTS(stsID) }, stsCreds, "cn-hangzhou", failure.Auth, "InvalidParameter", 400},
		{"no permission", func(e *env) { e.emu.Deny(akID, securitycenter.ActionQueryPreCheckDatabase) }, akCreds, "cn-hangzhou", failure.Auth, "NoPermission", 403},
		{"clock skew", func(e *env) { e.clock.Advance(20 * time.Minute) }, akCreds, "cn-hangzhou", failure.Auth, "InvalidTimeStamp.Expired", 400},
		{"throttled", func(e *env) { e.faults.Set(fault.Throttle, 1) }, stsCreds, "cn-hangzhou", failure.Throttled, "Throttling.User", 400},
		{"unavailable", func(e *env) { e.faults.Set(fault.Server, 1) }, akCreds, "cn-hangzhou", failure.Transient, "ServiceUnavailable", 503},
		{"missing region", nil, akCreds, "", failure.Permanent, "MissingParameter", 400},
		{"no keys", nil, secret.Credentials{AccessKeyID: akID}, "cn-hangzhou", failure.Auth, "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, nil)
			if tt.setup != nil {
				tt.setup(e)
			}
			_, err := e.client.QueryPreCheck(testContext(t), tt.creds, "t-1", tt.region, "")
			var se *failure.Error
			if !errors.As(err, &se) {
				t.Fatalf("err = %#v, want *failure.Error", err)
			}
			// Security Center gives no retry hint, not even when it throttles.
			if se.Service != "sas" || se.Class != tt.wantClass || se.Code != tt.wantCode || se.HTTPStatus != tt.wantStatus || se.RetryAfter != 0 || failure.ClassOf(err) != tt.wantClass {
				t.Errorf("got %s class %s code %q status %d retry after %s, want sas %s %q %d 0s: %v", se.Service, se.Class, se.Code, se.HTTPStatus, se.RetryAfter, tt.wantClass, tt.wantCode, tt.wantStatus, err)
			}
			if tt.wantStatus != 0 && se.RequestID == "" {
				t.Errorf("no RequestId: %v", err)
			}
			for _, leak := range leaks {
				if strings.Contains(err.Error(), leak) {
					t.Errorf("error text leaks %q: %v", leak, err)
				}
			}
		})
	}
}

func TestServerFaultsAlternate503And500(t *testing.T) {
	e := newEnv(t, nil)
	e.faults.Set(fault.Server, 1)
	var got []string
	for range 2 {
		_, err := e.client.QueryPreCheck(testContext(t), akCreds, "t-1", "cn-hangzhou", "")
		var se *failure.Error
		if !errors.As(err, &se) || se.Class != failure.Transient {
			t.Fatalf("err = %v, want a transient *failure.Error", err)
		}
		got = append(got, fmt.Sprint(se.HTTPStatus, " ", se.Code))
	}
	if fmt.Sprint(got) != "[503 ServiceUnavailable 500 ServerError]" {
		t.Errorf("answers %v", got)
	}
}

// The SDK compares the echoed string to sign with its own: equal means the
// secret is wrong, not the signing. This proves the emulator canonicalises
// exactly as the SDK does.
func TestSDKRecognisesWrongSecret(t *testing.T) {
	e := newEnv(t, nil)
	u, _ := url.Parse(e.url)
	cfg := sdk.NewConfig()
	client, err := sdk.NewClientWithOptions("cn-shanghai", cfg, credentials.NewStaticSTSCredentialsProvider(stsID, "wrong", stsToken))
	if err != nil {
		t.Fatal(err)
	}
	req := requests.NewCommonRequest()
	req.Method, req.Scheme, req.Domain = requests.POST, "http", u.Host
	req.Product, req.Version, req.ApiName = "Sas", "2018-12-03", "QueryPreCheckDatabase"
	req.QueryParams["UniRegionId"] = "cn-hangzhou"
	req.QueryParams["TaskId"] = "t 1*~/+" // characters the two encodings could disagree on
	_, err = client.ProcessCommonRequest(req)
	var server *sdkerr.ServerError
	if !errors.As(err, &server) {
		t.Fatalf("err = %v", err)
	}
	if server.ErrorCode() != "SignatureDoesNotMatch" || !strings.HasPrefix(server.Recommend(), "InvalidAccessKeySecret") {
		t.Fatalf("code %s recommend %q", server.ErrorCode(), server.Recommend())
	}
	if !strings.HasSuffix(server.Message(), "server string to sign is:"+req.GetStringToSign()) {
		t.Errorf("message %q does not end with the SDK's string to sign", server.Message())
	}
}

// recorder remembers the URLs it carries.
type recorder struct {
	mu   sync.Mutex
	urls []string
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	r.mu.Lock()
	r.urls = append(r.urls, req.URL.String())
	r.mu.Unlock()
	return http.DefaultTransport.RoundTrip(req)
}

func TestReplayedRequestIsRefused(t *testing.T) {
	rec := &recorder{}
	e := newEnv(t, rec)
	if _, err := e.client.QueryPreCheck(testContext(t), stsCreds, "t-1", "cn-hangzhou", ""); err != nil {
		t.Fatal(err)
	}
	if len(rec.urls) != 1 {
		t.Fatalf("recorded %d requests, want 1", len(rec.urls))
	}
	resp, err := http.Post(rec.urls[0], "application/x-www-form-urlencoded", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct{ Code string }
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != 400 || body.Code != "SignatureNonceUsed" {
		t.Fatalf("replay answered %d %+v (%v)", resp.StatusCode, body, err)
	}
}

func TestHangEndsWithTheContext(t *testing.T) {
	tests := []struct {
		name string
		ctx  func(*env) (context.Context, context.CancelFunc)
		want error
	}{
		{"deadline", func(*env) (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 300*time.Millisecond)
		}, context.DeadlineExceeded},
		{"cancel", func(e *env) (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(context.Background())
			// Cancelled once the emulator holds the call in its hang.
			go func() {
				if waitfor.Condition(10*time.Second, func() bool { return e.faults.Counts()[fault.Hang] > 0 }) {
					cancel()
				}
			}()
			return ctx, cancel
		}, context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, nil)
			e.faults.Set(fault.Hang, 1)
			ctx, cancel := tt.ctx(e)
			defer cancel()
			_, err := e.client.QueryPreCheck(ctx, akCreds, "t-1", "cn-hangzhou", "")
			if failure.ClassOf(err) != failure.Transient || !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want transient %v", err, tt.want)
			}
			// The lane is reusable: the next call on it succeeds.
			e.faults.Reset()
			if _, err := e.client.QueryPreCheck(testContext(t), akCreds, "t-1", "cn-hangzhou", ""); err != nil {
				t.Fatalf("call after the hang: %v", err)
			}
		})
	}
	e := newEnv(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := e.client.QueryPreCheck(ctx, akCreds, "t-1", "cn-hangzhou", ""); !errors.Is(err, context.Canceled) || e.emu.Calls(securitycenter.ActionQueryPreCheckDatabase) != 0 {
		t.Errorf("an ended context still called: %v", err)
	}
}

// Answers no real gateway should give, but a proxy or a broken gateway
// might: each is classified, none panics.
func TestOddAnswers(t *testing.T) {
	tests := []struct {
		name      string
		status    int
		body      string
		wantClass failure.Class
		wantCode  string
		wantSt    PrecheckStatus
	}{
		{"number in Code", 500, `{"Code":123,"Message":"x","RequestId":"r"}`, failure.Transient, "", PrecheckStatus{}},
		{"object detail as string", 403, `{"Code":"NoPermission","AccessDeniedDetail":"nope"}`, failure.Auth, "", PrecheckStatus{}},
		{"HTML bad gateway", 502, `<html>bad gateway</html>`, failure.Transient, "", PrecheckStatus{}},
		{"bare 429", 429, `slow down`, failure.Throttled, "", PrecheckStatus{}},
		{"throttling as 429", 429, `{"Code":"Throttling.Api","Message":"Request was denied due to api flow control."}`, failure.Throttled, "Throttling.Api", PrecheckStatus{}},
		{"unknown 4xx code", 400, `{"Code":"InvalidParam","Message":"There was an error with your request."}`, failure.Permanent, "InvalidParam", PrecheckStatus{}},
		{"unknown 5xx code", 504, `{"Code":"GatewayTimeout","Message":"x"}`, failure.Transient, "GatewayTimeout", PrecheckStatus{}},
		{"garbage 200", 200, `not json`, failure.Transient, "", PrecheckStatus{}},
		{"float progress", 200, `{"Progress":12.5}`, failure.Transient, "", PrecheckStatus{}},
		{"lenient 200", 200, `{"RequestId":"r","Progress":"55","Description":"created","Result":[{"instanceId":"i"}],"CreatedTime":1660448660,"UpdatedTime":null}`,
			0, "", PrecheckStatus{RequestID: "r", Progress: 55, Description: "created", Result: `[{"instanceId":"i"}]`, CreatedTime: 1660448660}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(tt.status)
				_, _ = io.WriteString(w, tt.body)
			}))
			defer ts.Close()
			c, err := New(Config{Endpoint: ts.URL})
			if err != nil {
				t.Fatal(err)
			}
			st, err := c.QueryPreCheck(testContext(t), akCreds, "t-1", "cn-hangzhou", "")
			var se *failure.Error
			if tt.wantClass == 0 {
				if err != nil || st != tt.wantSt {
					t.Fatalf("got %+v, %v; want %+v", st, err, tt.wantSt)
				}
				return
			}
			if !errors.As(err, &se) || se.Class != tt.wantClass || se.Code != tt.wantCode {
				t.Fatalf("err = %v, want class %s code %q", err, tt.wantClass, tt.wantCode)
			}
			if tt.status != 200 && se.HTTPStatus != tt.status {
				t.Errorf("status %d, want %d", se.HTTPStatus, tt.status)
			}
		})
	}
}

func TestConcurrentCallsShareSDKClients(t *testing.T) {
	e := newEnv(t, nil)
	const workers, perWorker = 16, 4
	var wg sync.WaitGroup
	for w := range workers {
		creds := []secret.Credentials{akCreds, stsCreds}[w%2]
		wg.Go(func() {
			for range perWorker {
				if _, err := e.client.QueryPreCheck(testContext(t), creds, "t-1", "cn-hangzhou", ""); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	if n := e.emu.Calls(securitycenter.ActionQueryPreCheckDatabase); n != workers*perWorker {
		t.Errorf("emulator saw %d calls, want %d", n, workers*perWorker)
	}
	e.client.mu.Lock()
	lanes := len(e.client.idle)
	e.client.mu.Unlock()
	if lanes < 1 || lanes > workers {
		t.Errorf("%d SDK clients for %d concurrent callers", lanes, workers)
	}
}

func TestSequentialCallsReuseOneSDKClient(t *testing.T) {
	e := newEnv(t, nil)
	var first *sdk.Client
	for i, creds := range []secret.Credentials{akCreds, stsCreds, akCreds, stsCreds} {
		if _, err := e.client.QueryPreCheck(testContext(t), creds, "t-1", "cn-hangzhou", ""); err != nil {
			t.Fatal(err)
		}
		e.client.mu.Lock()
		if len(e.client.idle) != 1 {
			t.Fatalf("call %d: %d idle SDK clients, want 1", i, len(e.client.idle))
		}
		if first == nil {
			first = e.client.idle[0].sdk
		} else if e.client.idle[0].sdk != first {
			t.Errorf("call %d built a new SDK client", i)
		}
		e.client.mu.Unlock()
	}
}

// Given an *http.Transport, the SDK would set its dialer on every call and
// point it at $HTTP_PROXY. The client hides the transport from the SDK.
func TestTransportIsNotRewrittenBySDK(t *testing.T) {
	t.Setenv("HTTP_PROXY", "http://127.0.0.1:1") // a proxy that refuses every connection
	tr := &http.Transport{}
	e := newEnv(t, tr)
	if _, err := e.client.QueryPreCheck(testContext(t), akCreds, "t-1", "cn-hangzhou", ""); err != nil {
		t.Fatal(err)
	}
	if tr.DialContext != nil || tr.Proxy != nil {
		t.Errorf("the SDK rewrote the transport: dialer set %v, proxy set %v", tr.DialContext != nil, tr.Proxy != nil)
	}
}

func TestDescribeDatabasesPages(t *testing.T) {
	e := newEnv(t, nil)
	for i := range 150 {
		e.emu.AddDatabase(securitycenter.Database{InstanceUUID: fmt.Sprint("uuid-", i), DatabaseType: "MYSQL", UniRegionID: "cn-hangzhou"})
	}
	e.emu.AddDatabase(securitycenter.Database{InstanceUUID: "uuid-mssql", DatabaseType: "MSSQL", UniRegionID: "cn-hangzhou"})
	e.emu.AddDatabase(securitycenter.Database{InstanceUUID: "uuid-sh", DatabaseType: "MYSQL", UniRegionID: "cn-shanghai"})
	tests := []struct {
		q         DatabaseQuery
		want      int
		wantPages int
	}{
		{DatabaseQuery{UniRegionID: "cn-hangzhou", DatabaseType: "MYSQL"}, 150, 8},
		{DatabaseQuery{UniRegionID: "cn-hangzhou", DatabaseType: "mysql"}, 150, 8},
		{DatabaseQuery{UniRegionID: "cn-hangzhou"}, 151, 8},
		{DatabaseQuery{UniRegionID: "cn-hangzhou", DatabaseType: "ORACLE"}, 0, 1},
		{DatabaseQuery{UniRegionID: "cn-shanghai"}, 1, 1},
	}
	for _, tt := range tests {
		before := e.emu.Calls(securitycenter.ActionDescribeUniBackupDatabase)
		paced := 0
		dbs, err := e.client.DescribeDatabases(testContext(t), akCreds, tt.q, Paging{Pace: func(context.Context) error { paced++; return nil }})
		pages := e.emu.Calls(securitycenter.ActionDescribeUniBackupDatabase) - before
		if err != nil || len(dbs) != tt.want || pages != tt.wantPages || paced != pages {
			t.Fatalf("%+v: %d databases in %d pages (%d paced), %v; want %d in %d", tt.q, len(dbs), pages, paced, err, tt.want, tt.wantPages)
		}
		for _, d := range dbs {
			if d.UniRegionID != tt.q.UniRegionID || d.AgentStatus != "INSTALLED" || d.InstanceUUID == "" {
				t.Fatalf("%+v: database %+v", tt.q, d)
			}
		}
	}
}

func TestDescribeDatabasesFailures(t *testing.T) {
	e := newEnv(t, nil)
	for i := range 45 {
		e.emu.AddDatabase(securitycenter.Database{InstanceUUID: fmt.Sprint("uuid-", i), DatabaseType: "MYSQL", UniRegionID: "cn-hangzhou"})
	}
	stop := errors.New("stop")
	pages := 0
	tests := []struct {
		name      string
		q         DatabaseQuery
		pace      func(context.Context) error
		wantClass failure.Class
		want      string
	}{
		{"no region", DatabaseQuery{}, nil, failure.Permanent, "no region"},
		{"unknown type", DatabaseQuery{UniRegionID: "cn-hangzhou", DatabaseType: "POSTGRES"}, nil, failure.Permanent, `"POSTGRES" is not MYSQL, MSSQL or Oracle`},
		{"the rate limit gives up on page 2", DatabaseQuery{UniRegionID: "cn-hangzhou"}, func(context.Context) error {
			if pages++; pages == 2 {
				return stop
			}
			return nil
		}, failure.Transient, "waiting for the rate limit: stop"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dbs, err := e.client.DescribeDatabases(testContext(t), akCreds, tt.q, Paging{Pace: tt.pace})
			var fe *failure.Error
			if !errors.As(err, &fe) || fe.Class != tt.wantClass || !strings.Contains(err.Error(), tt.want) || dbs != nil {
				t.Fatalf("got %d databases, %v; want no list and a %s error containing %q", len(dbs), err, tt.wantClass, tt.want)
			}
		})
	}
	t.Run("a page the service repeats", func(t *testing.T) {
		repeat := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			list := make([]map[string]string, 20)
			for i := range list {
				list[i] = map[string]string{"InstanceUuid": fmt.Sprint("uuid-", i)}
			}
			b, _ := json.Marshal(map[string]any{"RequestId": "r", "DatabaseList": list, "PageInfo": map[string]int{"TotalCount": 100}})
			w.Write(b)
		}))
		defer repeat.Close()
		c, err := New(Config{Endpoint: repeat.URL, Region: "cn-hangzhou"})
		if err != nil {
			t.Fatal(err)
		}
		dbs, err := c.DescribeDatabases(testContext(t), akCreds, DatabaseQuery{UniRegionID: "cn-hangzhou"}, Paging{})
		if err == nil || !strings.Contains(err.Error(), "page 2 repeats") || dbs != nil {
			t.Fatalf("got %d databases, %v; want an error naming the repeated page", len(dbs), err)
		}
	})
}

// TestDescribeDatabasesRetries asks for each page again after a passing
// failure, paced each time, while the attempts and the deadline allow, and
// never returns part of a listing.
func TestDescribeDatabasesRetries(t *testing.T) {
	e := newEnv(t, nil)
	for i := range 150 {
		e.emu.AddDatabase(securitycenter.Database{InstanceUUID: fmt.Sprint("uuid-", i), DatabaseType: "MYSQL", UniRegionID: "cn-hangzhou"})
	}
	tests := []struct {
		name      string
		shares    map[fault.Kind]float64 // of the requests that fail so
		always    fault.Kind             // fails every request
		creds     secret.Credentials
		attempts  int
		deadline  time.Duration
		want      int // databases listed; 0: the listing fails
		wantClass failure.Class
		wantCalls int // 0: more than the 8 pages
	}{
		{"a third of the requests throttled, failed or hung", map[fault.Kind]float64{fault.Throttle: 0.15, fault.Server: 0.1, fault.Hang: 0.1}, "", akCreds, 8, 30 * time.Second, 150, 0, 0},
		{"a page failing every try", nil, fault.Server, akCreds, 3, 30 * time.Second, 0, failure.Transient, 3},
		{"a page throttled every try", nil, fault.Throttle, akCreds, 2, 30 * time.Second, 0, failure.Throttled, 2},
		{"refused credentials, never asked again", nil, "", secret.Credentials{AccessKeyID: akID, AccessKeySecret: "wrong-secret"}, 8, 30 * time.Second, 0, failure.Auth, 1},
		{"no time left to ask again", nil, fault.Server, akCreds, 8, 1200 * time.Millisecond, 0, failure.Transient, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.faults.Reset()
			if tt.shares != nil {
				e.faults.SetShares(tt.shares)
			}
			if tt.always != "" {
				e.faults.Set(tt.always, 1)
			}
			defer e.faults.Reset()
			ctx, cancel := context.WithTimeout(context.Background(), tt.deadline)
			defer cancel()
			before := e.emu.Calls(securitycenter.ActionDescribeUniBackupDatabase)
			paced := 0
			paging := Paging{Pace: func(context.Context) error { paced++; return nil }, Attempts: tt.attempts, Timeout: time.Second}
			dbs, err := e.client.DescribeDatabases(ctx, tt.creds, DatabaseQuery{UniRegionID: "cn-hangzhou"}, paging)
			calls := e.emu.Calls(securitycenter.ActionDescribeUniBackupDatabase) - before
			if paced != calls {
				t.Errorf("%d requests, %d paced; want each paced", calls, paced)
			}
			if tt.want > 0 {
				if err != nil || len(dbs) != tt.want || calls <= 8 {
					t.Fatalf("got %d databases in %d requests, %v; want %d in more than the 8 pages", len(dbs), calls, err, tt.want)
				}
				return
			}
			if failure.ClassOf(err) != tt.wantClass || dbs != nil || calls != tt.wantCalls {
				t.Fatalf("got %d databases in %d requests, %v; want none in %d and a %s error", len(dbs), calls, err, tt.wantCalls, tt.wantClass)
			}
		})
	}
}

func TestClassify(t *testing.T) {
	tests := []struct {
		code    string
		status  int
		message string
		want    failure.Class
	}{
		{"Throttling", 400, "", failure.Throttled},
		{"Throttling.User", 400, "", failure.Throttled},
		{"Throttling.Api", 429, "", failure.Throttled},
		{"ServiceUnavailable", 503, "", failure.Transient},
		{"InternalError", 500, "", failure.Transient},
		{"ServerError", 500, "", failure.Transient},
		{"SignatureNonceUsed", 400, "", failure.Transient},
		{"InvalidAccessKeyId.NotFound", 404, "", failure.Auth},
		{"InvalidAccessKeyId.Inactive", 400, "", failure.Auth},
		{"SignatureDoesNotMatch", 400, "", failure.Auth},
		{"NoPermission", 403, "", failure.Auth},
		{"Forbidden.RAM", 403, "", failure.Auth},
		{"InvalidSecurityToken.Expired", 400, "", failure.Auth},
		{"SecurityToken.Expired", 400, "", failure.Auth},
		{"InvalidParameter", 400, `The specified parameter "SecurityToken.Expired" is not valid.`, failure.Auth},
		{"InvalidParameter", 400, `The specified parameter "TaskId" is not valid.`, failure.Permanent},
		{"InvalidTimeStamp.Expired", 400, "", failure.Auth},
		{"MissingParameter", 400, "", failure.Permanent},
		{"InvalidAction.NotFound", 404, "", failure.Permanent},
		{"NoPermission", 500, "", failure.Auth},
		{"", 502, "", failure.Transient},
		{"", 429, "", failure.Throttled},
		{"", 403, "", failure.Auth},
		{"", 400, "", failure.Permanent},
		{"Whatever", 503, "", failure.Transient},
	}
	for _, tt := range tests {
		if got := classify(tt.code, tt.status, tt.message); got != tt.want {
			t.Errorf("classify(%q, %d) = %s, want %s", tt.code, tt.status, got, tt.want)
		}
	}
}

func TestCleanMessage(t *testing.T) {
	long := strings.Repeat("x", 500)
	tests := []struct{ in, want string }{
		{"Specified signature is not matched with our calculation. server string to sign is:POST&%2F&SecurityToken%3DCAIS%252B", "Specified signature is not matched with our calculation."},
		{"token " + stsToken + " and " + url.QueryEscape(stsToken) + " and secret " + stsSecret, "token [redacted] and [redacted] and secret [redacted]"},
		{"line\n  two\tthree", "line two three"},
		{long, long[:maxMessage] + "…"},
	}
	for _, tt := range tests {
		if got := cleanMessage(tt.in, stsCreds); got != tt.want {
			t.Errorf("cleanMessage(%.40q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func FuzzParsePrecheckStatus(f *testing.F) {
	f.Add([]byte(`{"RequestId":"r","Progress":100,"Result":"[]","Description":"completed","CompletedTime":1657524396}`))
	f.Add([]byte(`{"Progress":"x"}`))
	f.Add([]byte(`{"Result":{"a":1}}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, body []byte) {
		st, err := parsePrecheckStatus(body)
		if err == nil && (st.Progress < 0 || st.Progress > 100) {
			t.Fatalf("progress %d outside 0..100", st.Progress)
		}
	})
}

// A network error's own text holds the signed URL, token and signature
// included; the client keeps only the cause.
func TestNetworkErrorIsTransientAndClean(t *testing.T) {
	ts := httptest.NewServer(http.NotFoundHandler())
	endpoint := ts.URL
	ts.Close() // nothing listens there any more
	c, err := New(Config{Endpoint: endpoint})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.QueryPreCheck(testContext(t), stsCreds, "t-1", "cn-hangzhou", "")
	if failure.ClassOf(err) != failure.Transient || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("err = %v, want a transient connection error", err)
	}
	for _, leak := range leaks {
		if strings.Contains(err.Error(), leak) {
			t.Errorf("error text leaks %q: %v", leak, err)
		}
	}
}
