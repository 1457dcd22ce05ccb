// Package securitycenter emulates the Security Center (Sas, API version
// 2018-12-03) RPC gateway on loopback for QueryPreCheckDatabase,
// StartPreCheckDatabase and DescribeUniBackupDatabase. It checks requests
// the way the gateway does (reference/sas-openapi.md §2.3): parameters,
// version and action, timestamp window, nonce reuse, access key, STS token,
// HMAC-SHA1 signature, business parameters, then permission. It answers
// with the gateway's JSON bodies and statuses, injects faults, and runs
// precheck tasks that tests script.
//
// Faults come from Config.Faults: added latency before every answer;
// Throttle answers 400 Throttling.User; Server answers 503
// ServiceUnavailable and 500 ServerError in turn; Hang holds the request
// until the client gives up (at most Config.HangLimit, then 503). Faults
// are drawn after authentication, as the gateway's flow control is per
// caller.
//
// Choices where the service is undocumented (guesses, not observations):
//   - While a task runs, Result is "" and Description is "created".
//   - An unknown TaskId (or one queried with another region or instance)
//     answers 200 with only RequestId: Progress reads 0, Description "".
//   - Without TaskId, a query answers for the instance's latest task.
//   - Tasks belong to one emulated Alibaba Cloud account: every access key
//     sees every task.
//   - Every answer is JSON, whatever Format asks for (the SDK asks JSON).
package securitycenter

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"precheckwatch/localcloud/fault"
)

// APIVersion is the only Version the emulator serves.
const APIVersion = "2018-12-03"

// The actions the emulator serves.
const (
	ActionQueryPreCheckDatabase     = "QueryPreCheckDatabase"
	ActionStartPreCheckDatabase     = "StartPreCheckDatabase"
	ActionDescribeUniBackupDatabase = "DescribeUniBackupDatabase"
)

const (
	// timestampWindow is how far a request's Timestamp may be from the
	// gateway's clock, and how long a SignatureNonce is remembered.
	timestampWindow = 15 * time.Minute
	maxBodyBytes    = 1 << 20
	timestampLayout = "2006-01-02T15:04:05Z"
	maxPageSize     = 100
)

// Account is an access key the emulator accepts.
type Account struct {
	AccessKeyID     string
	AccessKeySecret string
	SecurityToken   string   // set for STS keys: requests must carry it
	DeniedActions   []string // actions answered with NoPermission
}

// Config configures a Server. The zero value serves no account, injects no
// fault and uses the wall clock.
type Config struct {
	Accounts []Account
	Faults   *fault.Injector
	// Now is the emulator's clock: timestamps, nonces and task progress
	// follow it. It must stay within 15 minutes of the clients' clocks, or
	// every request is expired; shorten PrecheckDuration rather than
	// accelerate the clock.
	Now func() time.Time
	// PrecheckDuration is how long a task started by StartPreCheckDatabase
	// runs; default one minute, as the documentation says.
	PrecheckDuration time.Duration
	// HangLimit bounds how long a Hang fault holds a request whose client
	// never gives up; default one minute.
	HangLimit time.Duration
}

type account struct {
	Account
	expired bool
	denied  map[string]bool
}

// Server is the emulated gateway, an http.Handler safe for concurrent use.
type Server struct {
	faults           *fault.Injector
	now              func() time.Time
	precheckDuration time.Duration
	hangLimit        time.Duration

	mu           sync.Mutex
	accounts     map[string]*account
	nonces       map[string]time.Time
	noncesPruned time.Time
	tasks        map[string]*task
	taskOrder    []*task // oldest first, for queries without TaskId
	databases    []Database
	starts       map[string]int // StartPreCheckDatabase calls that started a task, by InstanceUuid
	calls        map[string]int
	serverFaults int
	taskSeq      uint64
}

// New returns a Server configured by cfg.
func New(cfg Config) *Server {
	s := &Server{
		faults:           cfg.Faults,
		now:              cfg.Now,
		precheckDuration: cfg.PrecheckDuration,
		hangLimit:        cfg.HangLimit,
		accounts:         map[string]*account{},
		nonces:           map[string]time.Time{},
		tasks:            map[string]*task{},
		starts:           map[string]int{},
		calls:            map[string]int{},
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.precheckDuration <= 0 {
		s.precheckDuration = time.Minute
	}
	if s.hangLimit <= 0 {
		s.hangLimit = time.Minute
	}
	for _, a := range cfg.Accounts {
		s.addAccount(a)
	}
	return s
}

func (s *Server) addAccount(a Account) {
	acc := &account{Account: a, denied: map[string]bool{}}
	for _, action := range a.DeniedActions {
		acc.denied[action] = true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.accounts[a.AccessKeyID] = acc
}

// AddAccount accepts a long-term AccessKey pair.
func (s *Server) AddAccount(id, secret string) {
	s.addAccount(Account{AccessKeyID: id, AccessKeySecret: secret})
}

// AddSTS accepts STS keys: requests signed with them must carry token.
func (s *Server) AddSTS(id, secret, token string) {
	s.addAccount(Account{AccessKeyID: id, AccessKeySecret: secret, SecurityToken: token})
}

// ExpireSTS makes the STS keys id answer as expired from now on.
func (s *Server) ExpireSTS(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a, ok := s.accounts[id]; ok {
		a.expired = true
	}
}

// Deny answers actions called with access key id with NoPermission.
func (s *Server) Deny(id string, actions ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a, ok := s.accounts[id]; ok {
		for _, action := range actions {
			a.denied[action] = true
		}
	}
}

// AddTask registers a scripted precheck task, created now on the
// emulator's clock.
func (s *Server) AddTask(t Task) error {
	if err := t.validate(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, dup := s.tasks[t.ID]; dup {
		return fmt.Errorf("securitycenter: task %s already exists", t.ID)
	}
	s.addTaskLocked(&task{Task: t, created: s.now()})
	return nil
}

func (s *Server) addTaskLocked(t *task) {
	s.tasks[t.ID] = t
	s.taskOrder = append(s.taskOrder, t)
}

// AddDatabase registers a database for DescribeUniBackupDatabase and for
// the prechecks StartPreCheckDatabase starts on it.
func (s *Server) AddDatabase(d Database) {
	d = withDefaults(d)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.databases = append(s.databases, d)
}

func withDefaults(d Database) Database {
	if d.AgentStatus == "" {
		d.AgentStatus = "INSTALLED"
	}
	if d.Status == "" {
		d.Status = "Running"
	}
	if d.CreatedByProduct == "" {
		d.CreatedByProduct = "AEGIS"
	}
	return d
}

// Calls reports how many requests named action, whatever their outcome.
// Requests whose parameters could not be read count under "".
func (s *Server) Calls(action string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[action]
}

// CallCounts reports Calls for every action seen.
func (s *Server) CallCounts() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int, len(s.calls))
	for k, v := range s.calls {
		out[k] = v
	}
	return out
}

// ServeHTTP answers one RPC request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	requestID := newRequestID()
	if s.faults != nil {
		s.faults.Delay(r.Context())
	}
	body, apiErr := s.handle(r, requestID)
	if apiErr != nil {
		writeError(w, r, requestID, apiErr)
		return
	}
	writeJSON(w, requestID, http.StatusOK, body)
}

// handle runs the gateway's checks in order, then the action.
func (s *Server) handle(r *http.Request, requestID string) (map[string]any, *apiError) {
	params, apiErr := readParams(r)
	s.countCall(params["Action"])
	if apiErr != nil {
		return nil, apiErr
	}
	if apiErr := checkCommon(params); apiErr != nil {
		return nil, apiErr
	}
	if apiErr := s.checkTimestamp(params["Timestamp"]); apiErr != nil {
		return nil, apiErr
	}
	if apiErr := s.useNonce(params["SignatureNonce"]); apiErr != nil {
		return nil, apiErr
	}
	acc, apiErr := s.authenticate(r.Method, params)
	if apiErr != nil {
		return nil, apiErr
	}
	if apiErr := s.injectFault(r); apiErr != nil {
		return nil, apiErr
	}
	action := params["Action"]
	if apiErr := checkBusiness(action, params); apiErr != nil {
		return nil, apiErr
	}
	if acc.denied[action] {
		return nil, errNoPermission
	}
	switch action {
	case ActionQueryPreCheckDatabase:
		return s.queryPreCheck(params), nil
	case ActionStartPreCheckDatabase:
		return s.startPreCheck(params), nil
	default:
		return s.describeDatabases(params), nil
	}
}

func (s *Server) countCall(action string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls[action]++
}

// readParams merges the query and a form body into one map, refusing a
// key given twice anywhere.
func readParams(r *http.Request) (map[string]string, *apiError) {
	if r.URL.Path != "/" || (r.Method != http.MethodGet && r.Method != http.MethodPost) {
		return nil, errActionNotFound
	}
	query, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, errInvalidParameter("QueryString")
	}
	sources := []url.Values{query}
	if r.Method == http.MethodPost && r.Body != nil {
		mediaType, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if mediaType == "application/x-www-form-urlencoded" {
			raw, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes+1))
			if err != nil || len(raw) > maxBodyBytes {
				return nil, errInvalidParameter("Body")
			}
			form, err := url.ParseQuery(string(raw))
			if err != nil {
				return nil, errInvalidParameter("Body")
			}
			sources = append(sources, form)
		}
	}
	params := map[string]string{}
	for _, src := range sources {
		for k, vs := range src {
			if _, dup := params[k]; dup || len(vs) != 1 {
				return nil, errInvalidParameter(k)
			}
			params[k] = vs[0]
		}
	}
	return params, nil
}

// checkCommon verifies the common parameters, the version and the action.
func checkCommon(params map[string]string) *apiError {
	for _, name := range []string{"Action", "Version", "AccessKeyId", "Timestamp", "SignatureNonce"} {
		if params[name] == "" {
			return errMissingParameter(name)
		}
	}
	for _, name := range []string{"Signature", "SignatureMethod", "SignatureVersion"} {
		if params[name] == "" {
			return errIncompleteSignature
		}
	}
	if params["SignatureMethod"] != "HMAC-SHA1" || params["SignatureVersion"] != "1.0" {
		return errIncompleteSignature
	}
	if params["Version"] != APIVersion {
		return errInvalidVersion
	}
	switch params["Action"] {
	case ActionQueryPreCheckDatabase, ActionStartPreCheckDatabase, ActionDescribeUniBackupDatabase:
		return nil
	}
	return errActionNotFound
}

func (s *Server) checkTimestamp(raw string) *apiError {
	ts, err := time.Parse(timestampLayout, raw)
	if err != nil {
		return errTimestampFormat
	}
	if d := s.now().Sub(ts); d > timestampWindow || d < -timestampWindow {
		return errTimestampExpired
	}
	return nil
}

// useNonce records nonce, refusing one seen within the window.
func (s *Server) useNonce(nonce string) *apiError {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if now.Sub(s.noncesPruned) > timestampWindow {
		for n, at := range s.nonces {
			if now.Sub(at) > timestampWindow {
				delete(s.nonces, n)
			}
		}
		s.noncesPruned = now
	}
	if at, seen := s.nonces[nonce]; seen && now.Sub(at) <= timestampWindow {
		return errNonceUsed
	}
	s.nonces[nonce] = now
	return nil
}

// authenticate finds the access key, checks the STS token, then the signature.
func (s *Server) authenticate(method string, params map[string]string) (*account, *apiError) {
	s.mu.Lock()
	acc, ok := s.accounts[params["AccessKeyId"]]
	var snapshot account
	if ok {
		snapshot = *acc
	}
	s.mu.Unlock()
	if !ok {
		return nil, errAccessKeyNotFound
	}
	if snapshot.SecurityToken != "" {
		token, sent := params["SecurityToken"]
		switch {
		case !sent || token == "":
			return nil, errMissingSecurityToken
		case token != snapshot.SecurityToken:
			return nil, errSecurityTokenMismatch
		case snapshot.expired:
			return nil, errSecurityTokenExpired
		}
	}
	stringToSign := StringToSign(method, params)
	want := Signature(stringToSign, snapshot.AccessKeySecret)
	if !hmacEqual(want, params["Signature"]) {
		return nil, errSignatureDoesNotMatch(stringToSign)
	}
	return &snapshot, nil
}

// injectFault draws the injector's fault for this request, if any.
func (s *Server) injectFault(r *http.Request) *apiError {
	if s.faults == nil {
		return nil
	}
	switch s.faults.Pick() {
	case fault.Throttle:
		return errThrottling
	case fault.Server:
		s.mu.Lock()
		s.serverFaults++
		n := s.serverFaults
		s.mu.Unlock()
		// Alternate the two 5xx answers the gateway gives, starting with 503.
		if n%2 == 1 {
			return errServiceUnavailable
		}
		return errServerError
	case fault.Hang:
		fault.HangUntil(r.Context(), s.hangLimit)
		return errServiceUnavailable
	}
	return nil
}

// checkBusiness verifies the action's own parameters.
func checkBusiness(action string, params map[string]string) *apiError {
	required := map[string][]string{
		ActionQueryPreCheckDatabase: {"UniRegionId"},
		ActionStartPreCheckDatabase: {"DatabaseType", "UniRegionId", "InstanceUuid"},
	}[action]
	for _, name := range required {
		if params[name] == "" {
			return errMissingParameter(name)
		}
	}
	if action == ActionStartPreCheckDatabase {
		switch params["DatabaseType"] {
		case "MYSQL", "MSSQL", "Oracle":
		default:
			return errInvalidParam(fmt.Sprintf("DatabaseType %q is not one of MYSQL, MSSQL, Oracle.", params["DatabaseType"]))
		}
	}
	if action == ActionDescribeUniBackupDatabase {
		for _, name := range []string{"CurrentPage", "PageSize"} {
			if v, ok := params[name]; ok && !positiveInt(v) {
				return errInvalidParameter(name)
			}
		}
	}
	return nil
}

func (s *Server) queryPreCheck(params map[string]string) map[string]any {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.findTaskLocked(params["TaskId"], params["InstanceUuid"], params["UniRegionId"])
	if t == nil {
		return map[string]any{}
	}
	st := t.poll(now)
	body := map[string]any{
		"Progress":    st.Progress,
		"Description": st.Description,
		"Result":      st.Result,
		"CreatedTime": st.CreatedTime,
		"UpdatedTime": st.UpdatedTime,
	}
	if st.CompletedTime != 0 {
		body["CompletedTime"] = st.CompletedTime
	}
	return body
}

// findTaskLocked finds the task a query names. Without a TaskId it is the
// latest task of the instance.
func (s *Server) findTaskLocked(taskID, instanceUUID, region string) *task {
	matches := func(t *task) bool {
		return (t.UniRegionID == "" || t.UniRegionID == region) &&
			(instanceUUID == "" || t.InstanceUUID == "" || t.InstanceUUID == instanceUUID)
	}
	if taskID != "" {
		if t, ok := s.tasks[taskID]; ok && matches(t) {
			return t
		}
		return nil
	}
	if instanceUUID == "" {
		return nil
	}
	for i := len(s.taskOrder) - 1; i >= 0; i-- {
		if t := s.taskOrder[i]; t.InstanceUUID == instanceUUID && matches(t) {
			return t
		}
	}
	return nil
}

func (s *Server) startPreCheck(params map[string]string) map[string]any {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	t := &task{
		Task: Task{
			DatabaseType: params["DatabaseType"],
			InstanceUUID: params["InstanceUuid"],
			UniRegionID:  params["UniRegionId"],
			Duration:     s.precheckDuration,
			Description:  DescriptionCompleted,
			InstanceID:   "i-" + hashID(params["InstanceUuid"], 20),
		},
		created: now,
	}
	for _, d := range s.databases {
		if d.InstanceUUID == t.InstanceUUID {
			if d.InstanceID != "" {
				t.InstanceID = d.InstanceID
			}
			if d.PrecheckDuration > 0 {
				t.Duration = d.PrecheckDuration
			}
			if d.PrecheckDescription == DescriptionError {
				t.Description = DescriptionError
				break
			}
			t.Result = ResultJSON(Check(t.DatabaseType, t.InstanceID, now.Add(t.Duration), d.Precheck))
			break
		}
	}
	s.starts[t.InstanceUUID]++
	for {
		s.taskSeq++
		t.ID = "t-" + hashID(fmt.Sprint(s.taskSeq, now.UnixNano()), 20)
		if _, dup := s.tasks[t.ID]; !dup {
			break
		}
	}
	s.addTaskLocked(t)
	return map[string]any{"CreateMark": t.ID}
}

func (s *Server) describeDatabases(params map[string]string) map[string]any {
	page, size := atoiDefault(params["CurrentPage"], 1), min(atoiDefault(params["PageSize"], 20), maxPageSize)
	s.mu.Lock()
	var matched []map[string]any
	for _, d := range s.databases {
		if (params["UniRegionId"] != "" && d.UniRegionID != params["UniRegionId"]) ||
			(params["DatabaseType"] != "" && !strings.EqualFold(d.DatabaseType, params["DatabaseType"])) ||
			(params["InstanceName"] != "" && !strings.Contains(d.InstanceName, params["InstanceName"])) {
			continue
		}
		matched = append(matched, map[string]any{
			"AgentStatus":      d.AgentStatus,
			"CreatedByProduct": d.CreatedByProduct,
			"DatabaseName":     d.DatabaseName,
			"DatabaseType":     d.DatabaseType,
			"DatabaseVersion":  d.DatabaseVersion,
			"InstanceId":       d.InstanceID,
			"InstanceName":     d.InstanceName,
			"InstanceUuid":     d.InstanceUUID,
			"PolicyId":         d.PolicyID,
			"Status":           d.Status,
		})
	}
	s.mu.Unlock()
	start := len(matched)
	if page-1 < len(matched)/size+1 { // keeps (page-1)*size from overflowing
		start = min(len(matched), (page-1)*size)
	}
	list := matched[start:min(len(matched), start+size)]
	if list == nil {
		list = []map[string]any{}
	}
	return map[string]any{
		"DatabaseList": list,
		"PageInfo": map[string]any{
			"Count": len(list), "CurrentPage": page, "PageSize": size, "TotalCount": len(matched),
		},
	}
}

// errorBody is the gateway's error shape. Every field is a string: the v1
// SDK type-asserts them and panics on anything else.
type errorBody struct {
	RequestID string `json:"RequestId"`
	HostID    string `json:"HostId"`
	Code      string `json:"Code"`
	Message   string `json:"Message"`
	Recommend string `json:"Recommend"`
}

func writeError(w http.ResponseWriter, r *http.Request, requestID string, e *apiError) {
	writeJSON(w, requestID, e.status, errorBody{
		RequestID: requestID,
		HostID:    r.Host,
		Code:      e.code,
		Message:   e.message,
		Recommend: "https://api.aliyun.com/troubleshoot?q=" + url.QueryEscape(e.code) +
			"&product=Sas&requestId=" + requestID,
	})
}

func writeJSON(w http.ResponseWriter, requestID string, status int, body any) {
	if m, ok := body.(map[string]any); ok {
		m["RequestId"] = requestID
	}
	b, err := json.Marshal(body)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"Code":"InternalError","Message":"InternalError"}`)
	}
	w.Header().Set("Content-Type", "application/json;charset=utf-8")
	w.Header().Set("x-acs-request-id", requestID)
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// newRequestID returns an id shaped like the gateway's (uppercase UUID).
func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	h := strings.ToUpper(hex.EncodeToString(b[:]))
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

func hmacEqual(a, b string) bool { return hmac.Equal([]byte(a), []byte(b)) }

// hashID derives n lowercase base-36 characters from seed, the alphabet of
// the service's task and instance ids.
func hashID(seed string, n int) string {
	const alphabet = "0123456789abcdefghijklmnopqrstuvwxyz"
	sum := sha256.Sum256([]byte(seed))
	out := make([]byte, n)
	for i := range out {
		out[i] = alphabet[int(sum[i%len(sum)])%len(alphabet)]
	}
	return string(out)
}

func positiveInt(s string) bool {
	n, err := strconv.Atoi(s)
	return err == nil && n > 0
}

func atoiDefault(s string, def int) int {
	if n, err := strconv.Atoi(s); err == nil && n > 0 {
		return n
	}
	return def
}
