package ledger

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"strings"
)

// MaxIDLen is the longest Key.ID: DingTalk's msgUuid must stay short.
const MaxIDLen = 64

// Key names one notification: a task's verdict on one channel. The same
// task may be notified more than once on a channel only under different
// verdicts (for example a "STARTED" notice, then "FAILED").
type Key struct {
	TaskID  string // Security Center precheck task id
	Channel string // "slack", "dingtalk", ...
	Verdict string // what is announced: a final verdict, or "STARTED"
}

// Validate reports a key with a missing field, which would otherwise share
// its record with unrelated notifications.
func (k Key) Validate() error {
	var missing []string
	if k.TaskID == "" {
		missing = append(missing, "task id")
	}
	if k.Channel == "" {
		missing = append(missing, "channel")
	}
	if k.Verdict == "" {
		missing = append(missing, "verdict")
	}
	if len(missing) > 0 {
		return errors.New("ledger: key without " + strings.Join(missing, ", "))
	}
	return nil
}

// ID is the key's stable identity, at most MaxIDLen characters of
// [A-Za-z0-9._:-]: it names the key's Redis records and serves as DingTalk's
// msgUuid, so a retried send is recognised as the same message. Keys whose
// fields are short and plain read as "TASK:CHANNEL:VERDICT"; any other key is
// "sha256-" and 32 hex digits of a hash of its fields. A hashed ID has no
// colon and a readable one has two, so the two forms never collide.
func (k Key) ID() string {
	if plain(k.TaskID) && plain(k.Channel) && plain(k.Verdict) {
		if id := k.TaskID + ":" + k.Channel + ":" + k.Verdict; len(id) <= MaxIDLen {
			return id
		}
	}
	h := sha256.New()
	for _, field := range []string{k.TaskID, k.Channel, k.Verdict} {
		// Length prefixes keep ("ab","c") and ("a","bc") apart.
		h.Write(binary.AppendUvarint(nil, uint64(len(field))))
		h.Write([]byte(field))
	}
	return "sha256-" + hex.EncodeToString(h.Sum(nil)[:16])
}

// String returns ID, so a key logs as its identity.
func (k Key) String() string { return k.ID() }

// plain reports whether s is non-empty and safe to use verbatim in an ID:
// letters, digits, '.', '_' and '-'.
func plain(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '.', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}
