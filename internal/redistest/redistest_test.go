package redistest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"precheckwatch/internal/waitfor"
)

func TestServerLifecycle(t *testing.T) {
	s := Run(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("fresh server: %v", err)
	}

	if err := s.Pause(); err != nil {
		t.Fatalf("pause: %v", err)
	}
	short, cancelShort := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancelShort()
	if err := s.Ping(short); err == nil {
		t.Fatal("paused server answered PING")
	}
	if err := s.Resume(); err != nil {
		t.Fatalf("resume: %v", err)
	}
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("resumed server: %v", err)
	}

	s.Stop()
	if err := s.Ping(ctx); err == nil {
		t.Fatal("stopped server answered PING")
	}
	if err := s.Pause(); err == nil {
		t.Fatal("pausing a stopped server reported no error")
	}
	s.Stop() // a second Stop, as t.Cleanup will also do, must not block or panic
}

func TestServersAreIndependent(t *testing.T) {
	a, b := Run(t), Run(t)
	if a.URL == b.URL {
		t.Fatalf("two servers share %s", a.URL)
	}
	a.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := b.Ping(ctx); err != nil {
		t.Fatalf("stopping one server affected the other: %v", err)
	}
}

func TestStartWithoutBinary(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	s, err := Start()
	if err == nil {
		s.Stop()
		t.Fatal("started without redis-server on PATH")
	}
	if !errors.Is(err, ErrNotInstalled) {
		t.Fatalf("err = %v, want ErrNotInstalled", err)
	}
}

// The proxy counts what a client pays for: one round trip per command sent
// and answered, one for a pipeline of many, and delays each by its latency.
func TestProxyCountsRoundTrips(t *testing.T) {
	s := Run(t)
	const latency = 20 * time.Millisecond
	p, err := NewProxy(s.Addr, latency)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	start := time.Now()
	if err := ping(p.Addr, time.Second); err != nil {
		t.Fatalf("PING through the proxy: %v", err)
	}
	if took := time.Since(start); took < latency {
		t.Errorf("PING through the proxy took %s, less than the added %s", took, latency)
	}
	if got := p.RoundTrips(); got != 1 {
		t.Errorf("one PING counted %d round trips, want 1", got)
	}
	if err := pipelinedPings(ctx, p.Addr, 3); err != nil {
		t.Fatalf("pipelined PINGs: %v", err)
	}
	if got := p.RoundTrips(); got != 2 {
		t.Errorf("a PING then a pipeline of three counted %d round trips, want 2", got)
	}
}

// pipelinedPings writes n inline PINGs at once and reads their n answers.
func pipelinedPings(ctx context.Context, addr string, n int) error {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		if err := conn.SetDeadline(dl); err != nil {
			return err
		}
	}
	if _, err := conn.Write([]byte(strings.Repeat("PING\r\n", n))); err != nil {
		return err
	}
	r := bufio.NewReader(conn)
	for range n {
		line, err := r.ReadString('\n')
		if err != nil {
			return err
		}
		if line != "+PONG\r\n" {
			return fmt.Errorf("PING answered %q", line)
		}
	}
	return nil
}

// A slow spell and a freeze hit open and new connections alike; a thaw
// delivers what was held.
func TestProxySlowAndFrozen(t *testing.T) {
	s := Run(t)
	p, err := NewProxy(s.Addr, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()

	p.SetLatency(200 * time.Millisecond)
	start := time.Now()
	if err := ping(p.Addr, 2*time.Second); err != nil || time.Since(start) < 200*time.Millisecond {
		t.Errorf("PING in a slow spell took %s (%v), want at least 200ms", time.Since(start), err)
	}
	p.SetLatency(0)

	p.Freeze()
	held := make(chan error, 1)
	go func() { held <- ping(p.Addr, 5*time.Second) }()
	if !waitfor.Condition(5*time.Second, func() bool { return p.Held() == 1 }) {
		t.Fatalf("a frozen proxy holds %d forwards, want the PING", p.Held())
	}
	select {
	case err := <-held:
		t.Fatalf("PING finished while frozen: %v", err)
	default:
	}
	if err := ping(p.Addr, 300*time.Millisecond); err == nil {
		t.Error("a frozen proxy answered PING")
	}
	p.Thaw()
	if err := <-held; err != nil {
		t.Errorf("PING held over the freeze: %v", err)
	}
}

func TestRestart(t *testing.T) {
	for _, tc := range []struct {
		name       string
		persistent bool
		want       string // the value read back after the restart
	}{
		{"empty after a restart", false, "$-1\r\n"},
		{"persistent keeps acknowledged writes", true, "$1\r\n1\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := RunWith(t, Options{Persistent: tc.persistent})
			if got := command(t, s.Addr, "SET k 1"); got != "+OK\r\n" {
				t.Fatalf("SET answered %q", got)
			}
			if err := s.Restart(); err != nil {
				t.Fatalf("restart: %v", err)
			}
			if got := command(t, s.Addr, "GET k"); got != tc.want {
				t.Errorf("GET after restart answered %q, want %q", got, tc.want)
			}
		})
	}
}

// A restart behind the proxy closes the proxy's client connections, as
// Redis's own restart closes its clients': a client sees its connection
// drop and dials again, rather than writing to a connection nothing reads.
func TestProxyPassesOnARestart(t *testing.T) {
	s := RunWith(t, Options{Persistent: true})
	p, err := NewProxy(s.Addr, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	conn, err := net.DialTimeout("tcp", p.Addr, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	r := bufio.NewReader(conn)
	if _, err := conn.Write([]byte("PING\r\n")); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(2 * time.Second))
	if line, err := r.ReadString('\n'); err != nil || line != "+PONG\r\n" {
		t.Fatalf("PING through the proxy answered %q (%v)", line, err)
	}
	if err := s.Restart(); err != nil {
		t.Fatalf("restart: %v", err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := r.ReadByte(); !errors.Is(err, io.EOF) {
		t.Fatalf("the client's connection after the restart: read %v, want EOF", err)
	}
	if err := ping(p.Addr, 2*time.Second); err != nil {
		t.Fatalf("a new connection after the restart: %v", err)
	}
}

// command sends one inline command and returns the reply's first line, or
// its first two for a bulk string.
func command(t *testing.T, addr, cmd string) string {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := conn.Write([]byte(cmd + "\r\n")); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(conn)
	line, err := r.ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	if strings.HasPrefix(line, "$") && line != "$-1\r\n" {
		body, err := r.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		line += body
	}
	return line
}

// CutAfter lets exactly n round trips through, then refuses everything
// until Heal.
func TestProxyCutAfter(t *testing.T) {
	s := Run(t)
	p, err := NewProxy(s.Addr, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	p.CutAfter(2)
	for i := range 2 {
		if err := ping(p.Addr, time.Second); err != nil {
			t.Fatalf("round trip %d before the cut: %v", i+1, err)
		}
	}
	if err := ping(p.Addr, 300*time.Millisecond); err == nil {
		t.Fatal("the third round trip went through a cut after 2")
	}
	if err := ping(p.Addr, 300*time.Millisecond); err == nil {
		t.Fatal("a new connection went through while cut")
	}
	p.Heal()
	if err := ping(p.Addr, time.Second); err != nil {
		t.Fatalf("after Heal: %v", err)
	}
}
