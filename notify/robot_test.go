package notify_test

import (
	"strconv"
	"testing"

	"precheckwatch/failure"
	"precheckwatch/notify"
)

func TestSignHMACSHA256(t *testing.T) {
	tests := []struct {
		name, key, message, want string
	}{
		// RFC 4231 test case 2, its hex digest in Base64.
		{"rfc4231 case 2", "Jefe", "what do ya want for nothing?", "W9zBRr9gdU5qBCQmCJV1x1oAPwidJzmDnexYuWTsOEM="},
		// HMAC-SHA256 of nothing under an empty key.
		{"empty", "", "", "thNnmggU2ex3L5XXeMNfxf8Wl8STcVZTxscSFEKSxa0="},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := notify.SignHMACSHA256(tt.key, tt.message); got != tt.want {
				t.Errorf("SignHMACSHA256(%q, %q) = %q, want %q", tt.key, tt.message, got, tt.want)
			}
		})
	}
}

func TestCodeOutcome(t *testing.T) {
	tests := []struct {
		name    string
		code    int
		want    failure.Class
		wantErr string
	}{
		{"sent", 0, 0, ""},
		{"refused", 19021, failure.Permanent, "feishu send: permanent: 19021 (HTTP 200): sign match fail"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := notify.CodeOutcome("feishu", tt.code, "sign match fail")
			if out.Sent() != (tt.want == 0) {
				t.Fatalf("CodeOutcome sent = %v, want %v", out.Sent(), tt.want == 0)
			}
			if out.Sent() {
				return
			}
			if out.Err.Class != tt.want || out.Err.Code != strconv.Itoa(tt.code) || out.Err.Service != "feishu" {
				t.Errorf("CodeOutcome = %+v, want %s %d", *out.Err, tt.want, tt.code)
			}
			if got := out.Err.Error(); got != tt.wantErr {
				t.Errorf("CodeOutcome error = %q, want %q", got, tt.wantErr)
			}
			if !out.Unposted {
				t.Error("a refused send must say nothing was posted")
			}
		})
	}
}
