package waitfor

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

func TestCondition(t *testing.T) {
	var looks atomic.Int64
	if !Condition(time.Minute, func() bool { return looks.Add(1) == 3 }) || looks.Load() != 3 {
		t.Errorf("a condition that holds at the third look: looked %d times", looks.Load())
	}
	looks.Store(0)
	if Condition(20*time.Millisecond, func() bool { looks.Add(1); return false }) || looks.Load() < 2 {
		t.Errorf("a condition that never holds: reported held, or looked only %d times", looks.Load())
	}
}

func TestGiveUpWhen(t *testing.T) {
	var held atomic.Bool
	ctx, cancel := GiveUpWhen(time.Minute, held.Load)
	defer cancel()
	if Condition(50*time.Millisecond, func() bool { return ctx.Err() != nil }) {
		t.Fatal("gave up before the condition held")
	}
	held.Store(true)
	if !Condition(time.Minute, func() bool { return ctx.Err() != nil }) || !errors.Is(ctx.Err(), context.Canceled) {
		t.Fatalf("did not give up once the condition held: %v", ctx.Err())
	}
	never, cancelNever := GiveUpWhen(20*time.Millisecond, func() bool { return false })
	defer cancelNever()
	if !Condition(time.Minute, func() bool { return never.Err() != nil }) {
		t.Fatal("a condition that never holds kept the context open past its bound")
	}
}
