package queue

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"unicode/utf8"
)

// CutMarker begins the note that ends a dead letter cut to fit.
const CutMarker = "\n[precheckwatch: cut"

// DeadLetterBody is body as a dead-letter queue can keep it. MNS carries a
// body as XML text, so the SDK replaces bytes that are not UTF-8, and
// characters XML forbids, with U+FFFD. A body MNS can carry is kept byte for
// byte; any other is kept as the standard base64 of its bytes, which the
// task parser and redrive read too. One longer than a message may be
// (MaxBatchBytes) is cut to fit and ended by a note, starting CutMarker,
// with its whole length and SHA-256, so that it is still dead-lettered
// rather than failing every time.
func DeadLetterBody(body []byte) string {
	text, what, encoded := string(body), "bytes of the body", !Carries(body)
	if encoded {
		text, what = base64.StdEncoding.EncodeToString(body), "characters of the base64 of the body"
	}
	if len(text) <= MaxBatchBytes {
		return text
	}
	note := func(kept int) string {
		return fmt.Sprintf("%s to the first %d %s, of %d bytes, to fit MNS's %d-byte limit; SHA-256 of the whole body: %x]",
			CutMarker, kept, what, len(body), MaxBatchBytes, sha256.Sum256(body))
	}
	keep := MaxBatchBytes - len(note(MaxBatchBytes))
	if encoded {
		keep -= keep % 4 // whole base64 quanta, so the part kept decodes
	} else {
		for keep > 0 && !utf8.RuneStart(text[keep]) {
			keep-- // whole characters, so the part kept stays UTF-8
		}
	}
	return text[:keep] + note(keep)
}

// Carries reports whether MNS keeps body byte for byte: UTF-8 text of
// characters XML allows (tab, newline and carriage return among the
// controls).
func Carries(body []byte) bool {
	for len(body) > 0 {
		r, size := utf8.DecodeRune(body)
		if r == utf8.RuneError && size == 1 || !xmlChar(r) {
			return false
		}
		body = body[size:]
	}
	return true
}

// xmlChar is XML 1.0's Char production, which encoding/xml escapes by.
func xmlChar(r rune) bool {
	return r == 0x09 || r == 0x0A || r == 0x0D ||
		r >= 0x20 && r <= 0xD7FF || r >= 0xE000 && r <= 0xFFFD || r >= 0x10000 && r <= 0x10FFFF
}
