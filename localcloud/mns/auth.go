package mns

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"sort"
	"strings"
	"time"
)

// apiVersion is the only protocol version the service speaks.
const apiVersion = "2015-06-06"

// maxClockSkew is how far a request's Date may be from the server's clock.
const maxClockSkew = 15 * time.Minute

// accessKey is one AccessKey the emulator accepts; token is set for STS keys,
// whose requests must carry it in the security-token header.
type accessKey struct {
	secret string
	token  string
}

// stringToSign builds the MNS string to sign (reference §2.2): the verb,
// Content-MD5, Content-Type and Date (x-mns-date replaces Date when present),
// every x-mns-* header as "name:value\n", then the resource as sent,
// query string included.
func stringToSign(method string, h http.Header, resource string) string {
	date := h.Get("Date")
	if d := h.Get("X-Mns-Date"); d != "" {
		date = d
	}
	var mnsHeaders []string
	for name, values := range h {
		lower := strings.ToLower(name)
		if strings.HasPrefix(lower, "x-mns-") && len(values) > 0 {
			mnsHeaders = append(mnsHeaders, lower+":"+strings.TrimSpace(values[0]))
		}
	}
	// Sorting the joined "name:value" strings (not the names) is what the Go
	// SDK does; the two orders differ only for names that prefix each other.
	sort.Strings(mnsHeaders)
	var b strings.Builder
	b.WriteString(method + "\n" + h.Get("Content-MD5") + "\n" + h.Get("Content-Type") + "\n" + date + "\n")
	for _, line := range mnsHeaders {
		b.WriteString(line + "\n")
	}
	b.WriteString(resource)
	return b.String()
}

// signature is base64(HMAC-SHA1(secret, stringToSign)).
func signature(secret, toSign string) string {
	mac := hmac.New(sha1.New, []byte(secret))
	mac.Write([]byte(toSign))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// contentMD5 is the Content-MD5 value MNS clients send: base64 of the
// lower-case hex MD5 of the body (not RFC 1864's base64 of the raw digest).
func contentMD5(body []byte) string {
	sum := md5.Sum(body)
	return base64.StdEncoding.EncodeToString([]byte(hex.EncodeToString(sum[:])))
}

// authenticate checks what the service checks before it looks at the
// operation: version, Authorization, Date, key, STS token, signature, clock
// skew and Content-MD5. resource is the request target with any endpoint
// path prefix removed.
func (s *Server) authenticate(r *http.Request, resource string, body []byte) *Error {
	switch v := r.Header.Get("X-Mns-Version"); v {
	case apiVersion:
	case "":
		return errMissingVersion
	default:
		return errInvalidVersion
	}
	auth := r.Header.Get("Authorization")
	if auth == "" {
		return errMissingAuthorization
	}
	cred, ok := strings.CutPrefix(auth, "MNS ")
	i := strings.LastIndexByte(cred, ':')
	if !ok || i <= 0 || i == len(cred)-1 {
		return errInvalidAuthorization
	}
	keyID, sig := strings.TrimSpace(cred[:i]), cred[i+1:]
	dateHeader := r.Header.Get("Date")
	if d := r.Header.Get("X-Mns-Date"); d != "" {
		dateHeader = d
	}
	if dateHeader == "" {
		return errMissingDate
	}
	date, err := http.ParseTime(dateHeader)
	if err != nil {
		return errInvalidDate
	}
	s.mu.Lock()
	key, known := s.keys[keyID]
	s.mu.Unlock()
	if !known {
		return errInvalidAccessKeyID
	}
	if key.token != "" && !hmac.Equal([]byte(r.Header.Get("Security-Token")), []byte(key.token)) {
		return errSecurityToken
	}
	want := signature(key.secret, stringToSign(r.Method, r.Header, resource))
	if !hmac.Equal([]byte(sig), []byte(want)) {
		return errSignatureMismatch
	}
	if skew := s.wallClock().Sub(date); skew > maxClockSkew || skew < -maxClockSkew {
		return errTimeExpired
	}
	if got := r.Header.Get("Content-MD5"); got != "" && got != contentMD5(body) {
		return errInvalidDigest
	}
	return nil
}
