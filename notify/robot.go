package notify

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strconv"

	"precheckwatch/failure"
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
	return Outcome{Ambiguous: true, Err: &failure.Error{Service: channel, Op: "send", Class: failure.Transient, HTTPStatus: http.StatusOK, Message: "unreadable answer"}}
}

// CodeOutcome is the outcome of a robot's answer code: sent for 0, or else
// a Permanent failure with nothing posted, with the code and msg, already
// scrubbed. The channel then reclassifies the codes a retry can pass.
func CodeOutcome(channel string, code int, msg string) Outcome {
	if code == 0 {
		return Outcome{}
	}
	return Outcome{Unposted: true, Err: &failure.Error{Service: channel, Op: "send", Class: failure.Permanent,
		Code: strconv.Itoa(code), HTTPStatus: http.StatusOK, Message: msg}}
}
