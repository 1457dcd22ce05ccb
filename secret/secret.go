// Package secret keeps tokens, webhook URLs, signing secrets and access keys
// out of logs, errors and reports: a Value prints as a fixed mask whichever
// way it is formatted or logged, and only Reveal gives the text back.
package secret

import (
	"log/slog"
	"net/url"
	"strings"
)

// Mask is what a Value prints as.
const Mask = "[redacted]"

// Value is a secret string. Its String, GoString, LogValue and MarshalText
// all give Mask, so a Value placed in a log line, an error or a JSON report
// leaks nothing.
type Value string

// String implements fmt.Stringer with the mask.
func (v Value) String() string { return mask(v) }

// GoString implements fmt.GoStringer with the mask (for %#v).
func (v Value) GoString() string { return mask(v) }

// LogValue implements slog.LogValuer with the mask.
func (v Value) LogValue() slog.Value { return slog.StringValue(mask(v)) }

// MarshalText implements encoding.TextMarshaler with the mask, so JSON
// reports and config dumps carry no secret.
func (v Value) MarshalText() ([]byte, error) { return []byte(mask(v)), nil }

// Reveal returns the secret itself, for the one place that sends it.
func (v Value) Reveal() string { return string(v) }

// Set reports whether the secret is non-empty.
func (v Value) Set() bool { return v != "" }

func mask(v Value) string {
	if v == "" {
		return ""
	}
	return Mask
}

// Credentials are Alibaba Cloud keys: a long-term AccessKey pair, or STS keys
// with a security token.
type Credentials struct {
	AccessKeyID     string
	AccessKeySecret Value
	SecurityToken   Value
}

// Complete reports whether an id and a secret are both present.
func (c Credentials) Complete() bool { return c.AccessKeyID != "" && c.AccessKeySecret.Set() }

// RedactURL returns u with its query and user info masked and its path
// reduced to the first segment: webhook URLs carry their credential in the
// path (Slack) or the query (DingTalk).
func RedactURL(raw string) string {
	bare, hadUser := WithoutUserinfo(raw)
	u, err := url.Parse(bare)
	if err != nil || u.Host == "" {
		return Mask
	}
	out := u.Scheme + "://"
	if hadUser {
		out += Mask + "@"
	}
	out += u.Host
	if u.Path != "" && u.Path != "/" {
		out += "/" + Mask
	}
	if u.RawQuery != "" {
		out += "?" + Mask
	}
	return out
}

// RedactUserinfo returns raw with its user info (user:password@) masked and
// the rest as it is.
func RedactUserinfo(raw string) string {
	bare, hadUser := WithoutUserinfo(raw)
	if !hadUser {
		return raw
	}
	if scheme, rest, ok := strings.Cut(bare, "://"); ok {
		return scheme + "://" + Mask + "@" + rest
	}
	return Mask
}

// WithoutUserinfo drops everything between "scheme://" and the last "@",
// without parsing: a password holding '/', '#', '?' or '@' makes a URL
// parser split it into host, path, fragment or query, and quote it in its
// error. With no "://", any "@" makes the whole string suspect, and bare is
// empty. hadUser says whether anything was dropped.
func WithoutUserinfo(raw string) (bare string, hadUser bool) {
	scheme, rest, ok := strings.Cut(raw, "://")
	at := strings.LastIndex(rest, "@")
	switch {
	case !ok && strings.Contains(raw, "@"):
		return "", true
	case !ok || at < 0:
		return raw, false
	}
	return scheme + "://" + rest[at+1:], true
}
