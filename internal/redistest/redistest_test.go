package redistest

import (
	"context"
	"errors"
	"testing"
	"time"
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
