package queue_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"precheckwatch/queue"
)

// A dead letter sent through the SDK to the MNS emulator and received back
// is the body byte for byte when MNS can carry it, its base64 when not, and
// cut to fit with its length and SHA-256 when too long: never replaced
// characters, never a send that fails every time.
func TestDeadLetterBody(t *testing.T) {
	e := newEnv(t, "dlq")
	q := e.open(t, "dlq")
	big := strings.Repeat("é", queue.MaxBatchBytes) // two bytes each: twice the limit
	for _, tc := range []struct {
		name    string
		body    []byte
		carried bool // kept as it is
		cut     bool
	}{
		{"JSON", []byte(`{"taskId": "t-broken", "uniRegionId": `), true, false},
		{"tab, newline, carriage return and U+FFFD", []byte("a\tb\nc\r\nd \uFFFD <&'\">"), true, false},
		{"not UTF-8", []byte("{\"taskId\":\"t-\xff\xfe\"}"), false, false},
		{"a control character XML forbids", []byte("{\"label\":\"\x01\x1b[31m\"}"), false, false},
		{"NUL", []byte("a\x00b"), false, false},
		{"exactly the limit", bytes.Repeat([]byte("x"), queue.MaxBatchBytes), true, false},
		{"over the limit", []byte(big), true, true},
		{"over the limit and not UTF-8", bytes.Repeat([]byte{0xff}, 2*queue.MaxBatchBytes), false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := queue.Carries(tc.body); got != tc.carried {
				t.Errorf("Carries = %v, want %v", got, tc.carried)
			}
			dl := queue.DeadLetterBody(tc.body)
			if len(dl) > queue.MaxBatchBytes || !utf8.ValidString(dl) {
				t.Fatalf("dead letter of %d bytes (UTF-8: %v) does not fit MNS", len(dl), utf8.ValidString(dl))
			}
			if err := q.Send(testContext(t), []queue.Outgoing{{Body: dl}}); err != nil {
				t.Fatal(err)
			}
			got := receiveOne(t, q).Body
			if got != dl {
				t.Fatalf("MNS changed the dead letter: sent %q…, received %q…", head(dl), head(got))
			}
			kept, note, cut := strings.Cut(got, queue.CutMarker)
			if cut != tc.cut {
				t.Fatalf("cut = %v, want %v: %q…", cut, tc.cut, head(got))
			}
			if cut {
				want := fmt.Sprintf("of %d bytes, to fit MNS's %d-byte limit; SHA-256 of the whole body: %x]", len(tc.body), queue.MaxBatchBytes, sha256.Sum256(tc.body))
				if !strings.HasSuffix(note, want) {
					t.Errorf("the note %q does not end %q", note, want)
				}
			}
			if !tc.carried && !cut {
				// Why: sent as it is, MNS would not give these bytes back.
				if err := q.Send(testContext(t), []queue.Outgoing{{Body: string(tc.body)}}); err != nil {
					t.Fatal(err)
				}
				if raw := receiveOne(t, q).Body; raw == string(tc.body) {
					t.Errorf("MNS carried %q as it is; Carries says it cannot", tc.body)
				}
			}
			original := []byte(kept)
			if !tc.carried {
				var err error
				if original, err = base64.StdEncoding.DecodeString(kept); err != nil {
					t.Fatalf("the dead letter is not base64: %v", err)
				}
			}
			if !bytes.HasPrefix(tc.body, original) || (!cut && len(original) != len(tc.body)) {
				t.Errorf("the dead letter keeps %q…, not the body's bytes %q…", head(string(original)), head(string(tc.body)))
			}
		})
	}
}

func head(s string) string {
	if len(s) > 40 {
		return s[:40]
	}
	return s
}
