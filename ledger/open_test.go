package ledger

import (
	"testing"
)

// FuzzOpenNeverQuotesThePassword opens DEDUPE_URLs holding any password.
// Whatever the password, Open either succeeds or fails with one of two
// messages that do not depend on it: the one the URL gets with a harmless
// password (a bad host, database or option), or the one saying the user
// info cannot be read. So no part of the password can reach an error.
func FuzzOpenNeverQuotesThePassword(f *testing.F) {
	for _, p := range []string{"pw", "p/ss", "p#ss", "p?ss", "p@ss", "12/x", "%zz", "a:b/c?d#e@f", "p ss", "", "\x00\xff", "[::1]"} {
		f.Add(p)
	}
	templates := []struct{ before, after string }{
		{"redis://:", "@127.0.0.1:6379/0"},
		{"redis://user:", "@127.0.0.1:6379/db0"},
		{"rediss://default:", "@cache.example.com:6380/0?dial_timeout=1s"},
		{"redis://user:", "@127.0.0.1:6379/0?tls=yes"},
		{"memory://u:", "@"},
	}
	message := func(url string) string {
		s, err := Open(url)
		if err != nil {
			return err.Error()
		}
		s.Close()
		return ""
	}
	f.Fuzz(func(t *testing.T, password string) {
		for _, tc := range templates {
			got := message(tc.before + password + tc.after)
			harmless, unreadable := message(tc.before+"pw"+tc.after), message(tc.before+"%zz"+tc.after)
			if got != "" && got != harmless && got != unreadable {
				t.Errorf("Open(%q) = %q; want no error, %q or %q", tc.before+password+tc.after, got, harmless, unreadable)
			}
		}
	})
}
