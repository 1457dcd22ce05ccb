package notify

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
)

// maxAnswer bounds how much of a chat robot's answer is read.
const maxAnswer = 64 << 10

// SignHMACSHA256 returns Base64(HMAC-SHA256(key, message)), the signature
// both DingTalk and Feishu robots check; each channel chooses what goes
// into key and message.
func SignHMACSHA256(key, message string) string {
	mac := hmac.New(sha256.New, []byte(key))
	mac.Write([]byte(message))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// ReadAnswer decodes at most 64 KiB of a robot's JSON answer into answer.
// When the answer cannot be read, ok is false and out says so: the request
// arrived, so whether it was delivered is unknown.
func ReadAnswer(channel string, resp *http.Response, answer any) (out Outcome, ok bool) {
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxAnswer)).Decode(answer); err != nil {
		return UnreadableAnswer(channel), false
	}
	return Outcome{}, true
}

// UnreadableAnswer reports an answer that says nothing readable about the
// send: retried, as it may have been delivered.
func UnreadableAnswer(channel string) Outcome {
	return Outcome{Status: Retry, Ambiguous: true, Reason: "bad_response", Err: errors.New(channel + ": unreadable answer")}
}

// CodeOutcome is the outcome of a robot's answer code: Sent for 0, or else
// Failed with nothing posted, its Reason "<label>_<code>" and msg, already
// scrubbed, in its error. The channel then marks the codes a retry can
// pass as Retry.
func CodeOutcome(channel, label string, code int, msg string) Outcome {
	if code == 0 {
		return Outcome{Status: Sent}
	}
	return Outcome{Status: Failed, Unposted: true, Reason: label + "_" + strconv.Itoa(code), Err: fmt.Errorf("%s: %s %d: %s", channel, label, code, msg)}
}
