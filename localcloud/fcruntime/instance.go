package fcruntime

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// invocationPath is where fc-runtime-go-sdk v0.3.1 polls and answers
// (fc/runtime_api_client.go: "http://" + FC_RUNTIME_API + "/2020-11-11/runtime/invocation/").
const invocationPath = "/2020-11-11/runtime/invocation/"

// instance is one function process and the runtime API server it polls.
type instance struct {
	f       *Function
	id      string
	addr    string
	cmd     *exec.Cmd
	srv     *http.Server
	started time.Time
	work    chan *invocation // unbuffered: a send succeeds only into a parked /next
	ready   chan struct{}    // closed at the first /invocation/next
	dead    chan struct{}    // closed once the process is gone and its invocations failed

	readyOnce    sync.Once
	startupTimer *time.Timer

	// busy counts the slots reserved on it and idleSince is when it last
	// had none; both are guarded by f.mu.
	busy      int
	idleSince time.Time

	mu       sync.Mutex
	exited   bool
	cause    error // why it died; the first reason given wins
	served   int
	inflight map[string]*invocation
}

func startInstance(f *Function) (*instance, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("fcruntime: listen for the runtime API: %w", err)
	}
	inst := &instance{
		f:        f,
		id:       instanceID(),
		addr:     ln.Addr().String(),
		work:     make(chan *invocation),
		ready:    make(chan struct{}),
		dead:     make(chan struct{}),
		inflight: map[string]*invocation{},
	}
	inst.srv = &http.Server{Handler: inst, ReadHeaderTimeout: 10 * time.Second}

	cfg := f.cfg
	cmd := exec.Command(cfg.Binary)
	cmd.Dir = filepath.Dir(cfg.Binary)
	cmd.Env = inst.environment()
	cmd.Stdout = cfg.Stdout
	cmd.Stderr = cfg.Stderr
	// Output pipes held open by a grandchild must not stall Wait.
	cmd.WaitDelay = time.Second
	inst.cmd = cmd

	if err := cmd.Start(); err != nil {
		_ = ln.Close()
		return nil, fmt.Errorf("fcruntime: start %s: %w", cfg.Binary, err)
	}
	inst.started = time.Now()
	// Serving after the start is fine (the listener queues connections) and
	// publishes inst.started to the handlers.
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		_ = inst.srv.Serve(ln) // ends with http.ErrServerClosed
	}()
	inst.startupTimer = time.AfterFunc(cfg.StartTimeout, func() {
		if !inst.wasReady() {
			inst.kill(fmt.Errorf("no /invocation/next within %s of process start", cfg.StartTimeout))
		}
	})
	f.wg.Add(1)
	go inst.wait()
	return inst, nil
}

// environment is what FC (and fc3's `s local`) give a go1 process
// (reference fc-runtime.md §1.2), then Config.Env, then FC_RUNTIME_API,
// which the caller cannot override.
func (in *instance) environment() []string {
	cfg := in.f.cfg
	env := []string{
		"PATH=/usr/local/bin:/usr/bin:/bin",
		// Not the developer's HOME: no ~/.alibabacloud profile leaks in.
		"HOME=/tmp",
		"FC_FUNC_CODE_PATH=" + filepath.Dir(cfg.Binary),
		"FC_RUNTIME=go1",
		"FC_REGION=" + cfg.Region,
		"FC_ACCOUNT_ID=" + cfg.AccountID,
		"FC_FUNCTION_NAME=" + cfg.FunctionName,
		"FC_FUNCTION_HANDLER=" + cfg.Handler,
		"FC_FUNCTION_MEMORY_SIZE=" + strconv.Itoa(cfg.MemoryMB),
		"FC_TIMEOUT=" + strconv.Itoa(timeoutSeconds(cfg.Timeout)),
		"FC_INSTANCE_ID=" + in.id,
	}
	if cfg.Credentials != nil {
		c := cfg.Credentials()
		env = append(env,
			"ALIBABA_CLOUD_ACCESS_KEY_ID="+c.AccessKeyID,
			"ALIBABA_CLOUD_ACCESS_KEY_SECRET="+c.AccessKeySecret.Reveal(),
			"ALIBABA_CLOUD_SECURITY_TOKEN="+c.SecurityToken.Reveal(),
		)
	}
	env = append(env, cfg.Env...)
	return append(env, "FC_RUNTIME_API="+in.addr)
}

// wait reaps the process, fails what it had in flight and stops its server.
func (in *instance) wait() {
	defer in.f.wg.Done()
	err := in.cmd.Wait()
	in.startupTimer.Stop()

	in.mu.Lock()
	in.exited = true
	if in.cause == nil {
		if err == nil {
			err = errors.New("exit status 0")
		}
		in.cause = fmt.Errorf("process exited: %w", err)
	}
	cause := in.cause
	lost := in.inflight
	in.inflight = nil
	in.mu.Unlock()

	for _, inv := range lost {
		inv.complete(Result{Outcome: InstanceDied},
			fmt.Errorf("fcruntime: invocation %s: %w: %v", inv.id, ErrInstanceDied, cause))
	}
	close(in.dead)
	in.f.gone(in)
	// Parked /next handlers return on dead; Shutdown waits for them.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if in.srv.Shutdown(ctx) != nil {
		_ = in.srv.Close()
	}

}

// kill SIGKILLs the process and counts it, unless it already exited.
func (in *instance) kill(cause error) bool {
	if !in.stop(cause) {
		return false
	}
	in.f.count(func(s *Stats) { s.Kills++ })
	return true
}

// stop SIGKILLs the process with cause as the reason its invocations fail.
func (in *instance) stop(cause error) bool {
	in.mu.Lock()
	if in.exited {
		in.mu.Unlock()
		return false
	}
	if in.cause == nil {
		in.cause = cause
	}
	in.mu.Unlock()
	return in.cmd.Process.Kill() == nil
}

func (in *instance) isDead() bool {
	select {
	case <-in.dead:
		return true
	default:
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.exited || in.cause != nil
}

func (in *instance) wasReady() bool {
	select {
	case <-in.ready:
		return true
	default:
		return false
	}
}

func (in *instance) deathCause() error {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.cause
}

// take removes the in-flight invocation id; nil means it is unknown or
// already ended.
func (in *instance) take(id string) *invocation {
	in.mu.Lock()
	defer in.mu.Unlock()
	inv := in.inflight[id]
	delete(in.inflight, id)
	return inv
}

// ServeHTTP is the runtime API 2020-11-11 of this instance.
func (in *instance) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rest, ok := strings.CutPrefix(r.URL.Path, invocationPath)
	if !ok {
		http.Error(w, "unknown runtime API path", http.StatusNotFound)
		return
	}
	if rest == "next" {
		if r.Method != http.MethodGet {
			w.Header().Set("Allow", http.MethodGet)
			http.Error(w, "use GET", http.StatusMethodNotAllowed)
			return
		}
		in.next(w, r)
		return
	}
	id, verb, ok := strings.Cut(rest, "/")
	if !ok || id == "" || (verb != "response" && verb != "error") {
		http.Error(w, "unknown runtime API path", http.StatusNotFound)
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "use POST", http.StatusMethodNotAllowed)
		return
	}
	in.answer(w, r, id, verb == "response")
}

// next parks until an invocation is handed over, the client goes away or
// the instance dies.
func (in *instance) next(w http.ResponseWriter, r *http.Request) {
	in.readyOnce.Do(func() {
		coldStart := time.Since(in.started)
		in.f.count(func(s *Stats) { s.ColdStartTimes = append(s.ColdStartTimes, coldStart) })
		close(in.ready)
	})
	select {
	case inv := <-in.work:
		in.handOver(w, inv)
	case <-r.Context().Done():
	case <-in.dead:
		http.Error(w, "instance stopped", http.StatusServiceUnavailable)
	}
}

// handOver starts inv's clock and writes it as the /next response.
func (in *instance) handOver(w http.ResponseWriter, inv *invocation) {
	cfg := in.f.cfg
	now := time.Now()
	// The wire carries milliseconds; the kill uses the very same instant.
	deadline := now.Add(cfg.Timeout).Truncate(time.Millisecond)

	in.mu.Lock()
	if in.exited || in.cause != nil {
		// Dying: decline, so the invocation goes to a fresh instance.
		in.mu.Unlock()
		inv.accepted <- false
		http.Error(w, "instance stopping", http.StatusServiceUnavailable)
		return
	}
	in.served++
	inv.host = in
	inv.cold = in.served == 1
	inv.instance = in.id
	inv.started = now
	inv.deadline = deadline
	inv.timer = time.AfterFunc(deadline.Sub(now), func() { in.timeout(inv) })
	in.inflight[inv.id] = inv
	in.mu.Unlock()
	inv.accepted <- true
	in.f.count(func(s *Stats) { s.Invocations++ })

	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("x-fc-request-id", inv.id)
	h.Set("x-fc-function-deadline", strconv.FormatInt(deadline.UnixMilli(), 10))
	h.Set("x-fc-function-timeout", strconv.Itoa(timeoutSeconds(cfg.Timeout)))
	h.Set("x-fc-function-type", "0")
	h.Set("x-fc-function-name", cfg.FunctionName)
	h.Set("x-fc-function-handler", cfg.Handler)
	h.Set("x-fc-function-memory", strconv.Itoa(cfg.MemoryMB))
	h.Set("x-fc-service-name", cfg.ServiceName)
	h.Set("x-fc-qualifier", cfg.Qualifier)
	h.Set("x-fc-version-id", cfg.VersionID)
	h.Set("x-fc-region", cfg.Region)
	h.Set("x-fc-account-id", cfg.AccountID)
	h.Set("x-fc-retry-count", strconv.Itoa(inv.retryCount))
	if cfg.Credentials != nil {
		c := cfg.Credentials()
		h.Set("x-fc-access-key-id", c.AccessKeyID)
		h.Set("x-fc-access-key-secret", c.AccessKeySecret.Reveal())
		h.Set("x-fc-security-token", c.SecurityToken.Reveal())
	}
	h.Set("Content-Length", strconv.Itoa(len(inv.event)))
	w.WriteHeader(http.StatusOK)
	if _, err := w.Write(inv.event); err != nil {
		// The client vanished with the event: the instance is going down.
		if lost := in.take(inv.id); lost != nil {
			lost.complete(Result{Outcome: InstanceDied},
				fmt.Errorf("fcruntime: invocation %s: %w: event not delivered: %v", inv.id, ErrInstanceDied, err))
		}
	}
}

// timeout ends inv as FC does at the deadline: report it, SIGKILL the
// instance. Its other in-flight invocations die with it.
func (in *instance) timeout(inv *invocation) {
	if in.take(inv.id) == nil {
		return
	}
	limit := in.f.cfg.Timeout
	in.kill(fmt.Errorf("killed: invocation %s exceeded the %s timeout", inv.id, limit))
	inv.complete(Result{Outcome: TimedOut},
		fmt.Errorf("fcruntime: invocation %s: %w after %s", inv.id, ErrTimeout, limit))
}

// answer completes the invocation id with the function's /response or
// /error body.
func (in *instance) answer(w http.ResponseWriter, r *http.Request, id string, success bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxSyncPayloadBytes))
	inv := in.take(id)
	if inv == nil {
		http.Error(w, fmt.Sprintf("invocation %q is unknown or already ended", id), http.StatusNotFound)
		return
	}
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		http.Error(w, "response exceeds the 32 MB limit", http.StatusRequestEntityTooLarge)
		fe := &FunctionError{Message: "function response exceeds the 32 MB limit", Type: "ResponseTooLarge"}
		inv.complete(Result{Outcome: Failed, Error: fe}, fe)
		return
	case err != nil:
		http.Error(w, "reading the body: "+err.Error(), http.StatusBadRequest)
		inv.complete(Result{Outcome: InstanceDied},
			fmt.Errorf("fcruntime: invocation %s: %w: answer cut short: %v", id, ErrInstanceDied, err))
		return
	}
	w.WriteHeader(http.StatusOK)
	inv.answered(success, body)
}

// timeoutSeconds is the x-fc-function-timeout value: whole seconds, at
// least 1.
func timeoutSeconds(d time.Duration) int {
	s := int((d + time.Second - 1) / time.Second)
	return max(s, 1)
}

// requestID looks like an FC 3.0 request id: 1-<8 hex>-<8 hex>-<12 hex>.
func requestID() string {
	return fmt.Sprintf("1-%08x-%s-%s", time.Now().Unix(), randomHex(4), randomHex(6))
}

// instanceID looks like an FC 3.0 instance id: c-<8 hex>-<8 hex>-<12 hex>.
func instanceID() string {
	return fmt.Sprintf("c-%08x-%s-%s", time.Now().Unix(), randomHex(4), randomHex(6))
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return hex.EncodeToString(b)
}
