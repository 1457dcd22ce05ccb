package waitfor

import (
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
