package bench

import (
	"testing"
	"time"

	"precheckwatch/handler"
)

// The default rate limit never binds; a low one sets the ideal bound, and
// so do the chat services' real limits for the messages they accepted.
func TestBenchIdealBound(t *testing.T) {
	for _, tc := range []struct {
		rate     float64
		messages map[string]int
		want     time.Duration
	}{
		{0, map[string]int{"slack": 1, "dingtalk": 1}, 3250 * time.Millisecond},    // (1 receive + ⌈1000 / 16⌉ + 1 delete) × 50ms
		{100, map[string]int{"slack": 1, "dingtalk": 1}, 9150 * time.Millisecond},  // (1000 − a burst of 100) / 100 a second + 3 × 50ms
		{20, map[string]int{"slack": 18}, 49150 * time.Millisecond},                // as deployed: (1000 − 20) / 20 a second + 3 × 50ms
		{1000, map[string]int{"slack": 1, "dingtalk": 1}, 3250 * time.Millisecond}, // above 16 / 50ms = 320 a second
		{0, map[string]int{"slack": 18, "dingtalk": 18}, 17 * time.Second},         // Slack: 17 after the first, 1 s apart; DingTalk: all in one minute
		{0, map[string]int{"dingtalk": 20}, 3250 * time.Millisecond},               // 20 fit in one DingTalk minute
		{0, map[string]int{"dingtalk": 21}, time.Minute},                           // the 21st waits a minute for the first
		{0, map[string]int{"dingtalk": 41}, 2 * time.Minute},
		{0, map[string]int{"feishu": 26}, 5 * time.Second}, // 5 a second
		{0, map[string]int{"feishu": 101}, time.Minute},    // and 100 a minute
		{0, map[string]int{"slack": 0, "feishu": 0}, 3250 * time.Millisecond},
	} {
		cfg := Config{Tasks: 1000, Latency: 50 * time.Millisecond, Concurrency: 16, RateLimit: tc.rate, MemoryMB: 128,
			Timeout: time.Minute, Trigger: handler.TimerTrigger, Batch: 16, ColdStarts: 1, Dedupe: "memory"}
		if err := cfg.Validate(); err != nil {
			t.Fatal(err)
		}
		if got := cfg.idealBound(cfg.Tasks, tc.messages); got != tc.want {
			t.Errorf("rate %g, messages %v: ideal %s, want %s", tc.rate, tc.messages, got, tc.want)
		}
	}
}
