// Package redistest runs a real redis-server on a loopback port for tests,
// so the Redis delivery record is tested against Redis itself rather than a
// fake that could only agree with the client. It also makes Redis misbehave
// the ways a deployed one does: slow or frozen (Proxy), paused, crashed, or
// restarted empty or from its append-only file (Restart).
//
// redis-server must be on PATH; scripts/test.sh installs it when missing. A
// missing binary fails the test instead of skipping it, so the suite never
// passes without its Redis tests.
package redistest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Binary is the server program looked up on PATH.
const Binary = "redis-server"

// ErrNotInstalled reports that redis-server is not on PATH.
var ErrNotInstalled = errors.New(Binary + " is not on PATH: run scripts/test.sh (the project test command), which installs it, or apt-get install -y redis-server")

// startTimeout bounds how long a server may take to answer PING.
const startTimeout = 10 * time.Second

// Server is one running redis-server process.
type Server struct {
	// URL is the go-redis URL of database 0, redis://127.0.0.1:PORT/0.
	URL string
	// Addr is the server's host:port.
	Addr string

	path    string
	port    int
	dir     string
	persist bool
	log     *lockedBuffer
	stop    sync.Once

	mu   sync.Mutex
	proc *process // the current redis-server; Restart replaces it
}

// process is one redis-server process of a Server.
type process struct {
	cmd    *exec.Cmd
	exited chan struct{} // closed when the process has been reaped
}

// Options choose how a server runs.
type Options struct {
	// Persistent turns on the append-only file with an fsync per write,
	// so Restart brings back every write Redis acknowledged, as a durable
	// ApsaraDB for Redis / Tair does. By default nothing is kept.
	Persistent bool
}

// Run starts a server for t and stops it when t ends. It fails t when the
// server cannot start, including when redis-server is not installed.
func Run(t testing.TB) *Server {
	t.Helper()
	return RunWith(t, Options{})
}

// RunWith is Run with options.
func RunWith(t testing.TB, opts Options) *Server {
	t.Helper()
	s, err := StartWith(opts)
	if err != nil {
		t.Fatalf("redistest: %v", err)
	}
	t.Cleanup(s.Stop)
	return s
}

// Start starts a server on a free loopback port and waits until it answers
// PING. The caller must call Stop; it suits TestMain, where one server can
// serve a whole test binary.
func Start() (*Server, error) { return StartWith(Options{}) }

// StartWith is Start with options.
func StartWith(opts Options) (*Server, error) {
	path, err := exec.LookPath(Binary)
	if err != nil {
		return nil, ErrNotInstalled
	}
	// The free port is found by binding and releasing it, so another process
	// can take it before redis-server binds; a few attempts cover that race.
	var lastErr error
	for range 3 {
		s, err := start(path, opts)
		if err == nil {
			return s, nil
		}
		lastErr = err
	}
	return nil, lastErr
}

func start(path string, opts Options) (*Server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "redistest-")
	if err != nil {
		return nil, fmt.Errorf("temp dir: %w", err)
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	s := &Server{
		URL:     "redis://" + addr + "/0",
		Addr:    addr,
		path:    path,
		port:    port,
		dir:     dir,
		persist: opts.Persistent,
		log:     &lockedBuffer{},
	}
	if err := s.launch(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return s, nil
}

// launch starts redis-server on s's port and waits for its PING.
func (s *Server) launch() error {
	args := []string{
		"--port", strconv.Itoa(s.port),
		"--bind", "127.0.0.1",
		"--save", "",
		"--dir", s.dir,
		"--loglevel", "warning",
	}
	if s.persist {
		args = append(args, "--appendonly", "yes", "--appendfsync", "always")
	} else {
		args = append(args, "--appendonly", "no")
	}
	cmd := exec.Command(s.path, args...)
	cmd.Stdout = s.log
	cmd.Stderr = s.log
	cmd.SysProcAttr = dieWithParent()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", Binary, err)
	}
	p := &process{cmd: cmd, exited: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(p.exited)
	}()
	s.mu.Lock()
	s.proc = p
	s.mu.Unlock()
	if err := s.awaitPing(p); err != nil {
		p.kill()
		return fmt.Errorf("%s on %s: %w; its output: %s", Binary, s.Addr, err, bytes.TrimSpace(s.log.Bytes()))
	}
	return nil
}

func (p *process) kill() {
	_ = p.cmd.Process.Kill()
	<-p.exited
}

func (s *Server) current() *process {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.proc
}

// Restart kills the server as a crash would (SIGKILL) and starts a new one
// on the same address: empty, or, for a Persistent server, with what its
// append-only file holds. Clients see their connections drop, then a
// server that answers again.
func (s *Server) Restart() error {
	s.current().kill()
	return s.launch()
}

// awaitPing polls until the server answers PING, exits, or startTimeout passes.
func (s *Server) awaitPing(p *process) error {
	deadline := time.Now().Add(startTimeout)
	for {
		err := ping(s.Addr, time.Second)
		if err == nil {
			return nil
		}
		select {
		case <-p.exited:
			return errors.New("exited before answering PING")
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no answer to PING within %s: %w", startTimeout, err)
		}
	}
}

// ping sends one inline PING and expects +PONG.
func ping(addr string, timeout time.Duration) error {
	conn, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return err
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(timeout)); err != nil {
		return err
	}
	if _, err := conn.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return err
	}
	if line != "+PONG\r\n" {
		return fmt.Errorf("PING answered %q", line)
	}
	return nil
}

// Stop kills the server as a crash would (SIGKILL) and waits until it has
// exited, so a test can check how clients behave when Redis is down. It is
// safe to call more than once, and on a paused server.
func (s *Server) Stop() {
	s.stop.Do(func() {
		s.current().kill()
		os.RemoveAll(s.dir)
	})
}

// Pause freezes the server (SIGSTOP): connections stay open but nothing is
// answered, the way a hung or partitioned Redis looks to a client.
func (s *Server) Pause() error { return s.signal(syscall.SIGSTOP) }

// Resume undoes Pause (SIGCONT).
func (s *Server) Resume() error { return s.signal(syscall.SIGCONT) }

func (s *Server) signal(sig os.Signal) error {
	p := s.current()
	select {
	case <-p.exited:
		return fmt.Errorf("%s on %s has exited", Binary, s.Addr)
	default:
	}
	return p.cmd.Process.Signal(sig)
}

// Ping reports whether the server answers PING within timeout.
func (s *Server) Ping(ctx context.Context) error {
	timeout := time.Second
	if d, ok := ctx.Deadline(); ok {
		timeout = time.Until(d)
	}
	return ping(s.Addr, timeout)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// lockedBuffer collects the server's output, written by the exec copier
// goroutine and read when start-up fails.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return bytes.Clone(b.buf.Bytes())
}
