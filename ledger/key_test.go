package ledger

import (
	"strings"
	"testing"
)

func TestKeyID(t *testing.T) {
	cases := []struct {
		key  Key
		want string
	}{
		{Key{"t-000bc9nqwxsbyvod0001", "slack", "FAILED"}, "t-000bc9nqwxsbyvod0001:slack:FAILED"},
		{Key{"t-000bc9nqwxsbyvod0001", "dingtalk", "TIMED_OUT"}, "t-000bc9nqwxsbyvod0001:dingtalk:TIMED_OUT"},
		// Characters outside [A-Za-z0-9._-], or an ID over 64 characters, are hashed.
		{Key{"t:1", "slack", "FAILED"}, "sha256-"},
		{Key{"t 1", "slack", "FAILED"}, "sha256-"},
		{Key{"任务", "slack", "FAILED"}, "sha256-"},
		{Key{strings.Repeat("t", 50), "dingtalk", "PASSED"}, "sha256-"},
	}
	for _, tc := range cases {
		id := tc.key.ID()
		if tc.want == "sha256-" {
			if !strings.HasPrefix(id, tc.want) || len(id) != len("sha256-")+32 {
				t.Errorf("%#v.ID() = %q, want a sha256- hash", tc.key, id)
			}
		} else if id != tc.want {
			t.Errorf("%#v.ID() = %q, want %q", tc.key, id, tc.want)
		}
		if id != tc.key.ID() || id != tc.key.String() {
			t.Errorf("%#v: ID is not stable", tc.key)
		}
	}
}

// TestKeyIDHashIsStable pins one hashed ID (computed independently, in
// Python): msgUuid values and Redis keys written by an older build must
// still match after an upgrade.
func TestKeyIDHashIsStable(t *testing.T) {
	const want = "sha256-bf4656d13b3e4237ddff1ceaf6c0b670"
	if got := (Key{"task/with/slashes", "slack", "FAILED"}).ID(); got != want {
		t.Fatalf("ID = %q, want %q", got, want)
	}
}

func TestKeyIDsAreDistinct(t *testing.T) {
	keys := []Key{
		{"ab", "c", "d"}, {"a", "bc", "d"}, {"a:b", "c", "d"}, {"a", "b:c", "d"},
		{"a", "b", "c:d"}, {"t-1", "slack", "FAILED"}, {"t-1", "slack", "PASSED"},
		{"t-1", "dingtalk", "FAILED"}, {"t-2", "slack", "FAILED"},
		{"t-1:slack:FAILED", "x", "y"}, {strings.Repeat("a", 60), "b", "c"},
		{strings.Repeat("a", 59), "b", "c"},
	}
	seen := map[string]Key{}
	for _, k := range keys {
		id := k.ID()
		if other, dup := seen[id]; dup {
			t.Errorf("%#v and %#v share ID %q", k, other, id)
		}
		seen[id] = k
	}
}

func FuzzKeyID(f *testing.F) {
	f.Add("t-000bc9nqwxsbyvod0001", "slack", "FAILED")
	f.Add("t:1", "dingtalk", "ERROR")
	f.Add("", "", "")
	f.Fuzz(func(t *testing.T, task, channel, verdict string) {
		id := Key{task, channel, verdict}.ID()
		if len(id) == 0 || len(id) > MaxIDLen {
			t.Fatalf("ID %q has length %d", id, len(id))
		}
		for _, part := range strings.Split(id, ":") {
			if !plain(part) {
				t.Fatalf("ID %q has characters outside [A-Za-z0-9._:-]", id)
			}
		}
	})
}
