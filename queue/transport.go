package queue

import (
	"crypto/tls"
	"fmt"
	"net/url"
	"strings"
	"time"

	ali_mns "github.com/aliyun/aliyun-mns-go-sdk"
	"github.com/aliyun/credentials-go/credentials"
	"github.com/valyala/fasthttp"

	"precheckwatch/secret"
)

// sdkEndpoint is the endpoint the SDK is built with. aliyun-mns-go-sdk
// v1.0.11 panics unless the endpoint string splits into exactly five pieces
// on "." (reference §2.5), which rules out IPs, localhost and most private
// names. So the SDK always gets this well-formed placeholder, and the
// transport below sends each request to the configured endpoint instead.
// Of the two workarounds in the reference this is the faithful one: the
// request line, headers and signature are exactly those a real MNS endpoint
// receives (only the Host header is rewritten, and it is not signed),
// whereas a dotted path prefix would put a path on the wire that the real
// service would reject. The account id and region the SDK derives from it
// ("0", "rerouted") are used only for topics.
const sdkEndpoint = "http://0.mns.rerouted.by-transport.invalid"

// endpoint is where requests really go, shared by every call of a Queue.
type endpoint struct {
	scheme     string
	host       string // Host header and URI host, e.g. "127.0.0.1:9100"
	pathPrefix string // "" or "/prefix" without a trailing slash
	conns      *fasthttp.HostClient
	idle       chan *sdkClient
}

func parseEndpoint(raw string, maxConns int) (*endpoint, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	switch {
	case err != nil || u.Host == "":
		return nil, fmt.Errorf("queue endpoint %s is not an http(s) URL", secret.RedactURL(raw))
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, fmt.Errorf("queue endpoint %s: scheme must be http or https", secret.RedactURL(raw))
	case u.User != nil:
		// fasthttp would turn user info into Basic auth over the MNS signature.
		return nil, fmt.Errorf("queue endpoint %s: user info is not allowed", secret.RedactURL(raw))
	case u.RawQuery != "" || u.Fragment != "":
		return nil, fmt.Errorf("queue endpoint %s: query and fragment are not allowed", secret.RedactURL(raw))
	}
	isTLS := u.Scheme == "https"
	e := &endpoint{
		scheme:     u.Scheme,
		host:       u.Host,
		pathPrefix: strings.TrimRight(u.EscapedPath(), "/"),
		idle:       make(chan *sdkClient, idleClients),
		conns: &fasthttp.HostClient{
			Addr:          fasthttp.AddMissingPort(u.Host, isTLS),
			IsTLS:         isTLS,
			DialDualStack: true,
			MaxConns:      maxConns,
			// Retry only what fasthttp always retries: a kept-alive connection
			// the server closed before answering. Retrying a timed-out receive
			// would hide the messages it took, and a retried
			// ChangeMessageVisibility would fail on the handle it replaced
			// (reference §1.6).
			RetryIf: func(*fasthttp.Request) bool { return false },
		},
	}
	if isTLS {
		e.conns.TLSConfig = &tls.Config{ServerName: u.Hostname(), MinVersion: tls.VersionTLS12}
	}
	return e, nil
}

// callTransport sends an SDK client's requests to the endpoint, bounded by
// the deadline of the call it serves, over the endpoint's shared
// connections. It keeps the status of the answer, which the SDK reads and
// leaves out of the errors it returns.
type callTransport struct {
	e        *endpoint
	deadline time.Time
	status   int // of the last answer; 0 while none has arrived
}

// RoundTrip implements fasthttp.RoundTripper.
func (t *callTransport) RoundTrip(_ *fasthttp.HostClient, req *fasthttp.Request, resp *fasthttp.Response) (bool, error) {
	uri := req.URI()
	uri.SetScheme(t.e.scheme)
	uri.SetHost(t.e.host)
	if t.e.pathPrefix != "" {
		// The SDK signed the path without the prefix; a gateway mounted at
		// the prefix forwards it the same way.
		uri.SetPath(t.e.pathPrefix + string(uri.Path()))
	}
	err := t.e.conns.DoDeadline(req, resp, t.deadline)
	if err == nil {
		t.status = resp.StatusCode()
	}
	return false, err
}

// callCredential hands the SDK the keys of the call being served. The SDK
// reads it on every request, so keys that change per invocation (FC's STS
// keys) are always current. It also avoids credentials-go's fallback to
// environment variables for empty keys.
type callCredential struct {
	id, secret, token string
}

var _ credentials.Credential = (*callCredential)(nil)

func (c *callCredential) kind() string {
	if c.token != "" {
		return "sts"
	}
	return "access_key"
}

func (c *callCredential) GetAccessKeyId() (*string, error)     { return &c.id, nil }
func (c *callCredential) GetAccessKeySecret() (*string, error) { return &c.secret, nil }
func (c *callCredential) GetSecurityToken() (*string, error)   { return &c.token, nil }
func (c *callCredential) GetBearerToken() *string              { return nil }
func (c *callCredential) GetType() *string                     { k := c.kind(); return &k }

func (c *callCredential) GetCredential() (*credentials.CredentialModel, error) {
	id, sk, token, k := c.id, c.secret, c.token, c.kind()
	return &credentials.CredentialModel{AccessKeyId: &id, AccessKeySecret: &sk, SecurityToken: &token, Type: &k}, nil
}

// String and GoString keep the keys out of any accidental print.
func (c *callCredential) String() string   { return secret.Mask }
func (c *callCredential) GoString() string { return secret.Mask }

// sdkClient is an SDK client that serves one call at a time: the call sets
// its keys and deadline first. Reusing clients matters because every new
// SDK client brings a fasthttp.Client whose idle-cleaner goroutine lives on
// for a second after its last request.
type sdkClient struct {
	client    ali_mns.MNSClient
	cred      *callCredential
	transport *callTransport
}

// idleClients is how many SDK clients an endpoint keeps for reuse.
const idleClients = 64

// acquire returns an idle SDK client or builds one, set up for a call with
// creds and deadline. Building one may panic (it is the SDK); callers
// recover.
func (e *endpoint) acquire(creds secret.Credentials, deadline time.Time) *sdkClient {
	var c *sdkClient
	select {
	case c = <-e.idle:
	default:
		c = &sdkClient{cred: &callCredential{}, transport: &callTransport{e: e}}
		c.client = ali_mns.NewAliMNSClientWithConfig(ali_mns.AliMNSClientConfig{
			EndPoint: sdkEndpoint, Credential: c.cred, MaxConnsPerHost: 1,
		})
		// SetTransport before the first request: fasthttp installs it when
		// it creates a host client (reference §1.1).
		c.client.SetTransport(c.transport)
	}
	*c.cred = callCredential{id: creds.AccessKeyID, secret: creds.AccessKeySecret.Reveal(), token: creds.SecurityToken.Reveal()}
	c.transport.deadline, c.transport.status = deadline, 0
	return c
}

// release keeps c for another call, or drops it when enough are idle.
func (e *endpoint) release(c *sdkClient) {
	*c.cred = callCredential{}
	select {
	case e.idle <- c:
	default:
	}
}
