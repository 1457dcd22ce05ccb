package notify_test

import (
	"testing"

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
		name       string
		code       int
		wantStatus notify.Status
		wantReason string
		wantErr    string
	}{
		{"sent", 0, notify.Sent, "", ""},
		{"refused", 19021, notify.Failed, "code_19021", "feishu: code 19021: sign match fail"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := notify.CodeOutcome("feishu", "code", tt.code, "sign match fail")
			if out.Status != tt.wantStatus || out.Reason != tt.wantReason {
				t.Errorf("CodeOutcome = %v %q, want %v %q", out.Status, out.Reason, tt.wantStatus, tt.wantReason)
			}
			if got := errString(out.Err); got != tt.wantErr {
				t.Errorf("CodeOutcome error = %q, want %q", got, tt.wantErr)
			}
			if tt.wantStatus == notify.Failed && !out.Unposted {
				t.Error("a refused send must say nothing was posted")
			}
		})
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
