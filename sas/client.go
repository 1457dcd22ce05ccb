// Package sas is the Security Center (product Sas, API version 2018-12-03)
// client: the database-backup precheck operations the v1 SDK's services/sas
// package lacks, called through sdk.Client.ProcessCommonRequest, with every
// failure classified once into a *failure.Error.
//
// Credentials come with each call, because Function Compute hands out fresh
// STS keys on every invocation. The SDK client is not safe for concurrent
// calls that set their own timeouts (each call writes the shared
// http.Client's Timeout), so the Client keeps a pool of SDK clients, one per
// call in flight, each reading its call's credentials and context; they are
// reused across calls and credential sets, never rebuilt per call.
package sas

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/auth/credentials"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"

	"precheckwatch/failure"
	"precheckwatch/secret"
)

const (
	product    = "Sas"
	apiVersion = "2018-12-03"

	mainlandEndpoint      = "tds.cn-shanghai.aliyuncs.com"
	internationalEndpoint = "tds.ap-southeast-1.aliyuncs.com"

	// defaultTimeout bounds a call whose context has no deadline: the
	// SDK's own read timeout.
	defaultTimeout = 10 * time.Second
	connectTimeout = 5 * time.Second
	maxIdleLanes   = 64
)

// Config configures a Client.
type Config struct {
	// Endpoint is SAS_ENDPOINT: a host ("tds.cn-shanghai.aliyuncs.com",
	// HTTPS) or an http(s) URL without a path ("http://127.0.0.1:9200").
	// Empty means DefaultEndpoint(Region).
	Endpoint string
	// Region is the function's region. It chooses the default endpoint and
	// the site (cn-shanghai or ap-southeast-1) sent as the common RegionId.
	Region string
	// Transport carries the requests; nil means a transport that honours
	// HTTPS_PROXY, HTTP_PROXY and NO_PROXY. The SDK never sees it as an
	// *http.Transport, so it never rewrites its dialer, TLS or proxy.
	Transport http.RoundTripper
}

// Client calls Security Center. It is safe for concurrent use.
type Client struct {
	scheme    string // "https" or "http"
	domain    string // host[:port]
	regionID  string // the common RegionId
	transport http.RoundTripper

	mu   sync.Mutex
	idle []*lane
}

// DefaultEndpoint is Security Center's public endpoint for a region:
// tds.cn-shanghai.aliyuncs.com for mainland China regions (cn-*, and
// cn-hongkong, as the V2 SDK maps it), tds.ap-southeast-1.aliyuncs.com for
// every other region. It is "" for an empty region.
func DefaultEndpoint(region string) string {
	switch {
	case region == "":
		return ""
	case strings.HasPrefix(region, "cn-"):
		return mainlandEndpoint
	default:
		return internationalEndpoint
	}
}

// New checks cfg and returns a Client.
func New(cfg Config) (*Client, error) {
	raw := strings.TrimSpace(cfg.Endpoint)
	if raw == "" {
		raw = DefaultEndpoint(cfg.Region)
		if raw == "" {
			return nil, errors.New("sas: no endpoint: set SAS_ENDPOINT or the function's region")
		}
	}
	scheme, domain, err := parseEndpoint(raw)
	if err != nil {
		return nil, err
	}
	c := &Client{scheme: scheme, domain: domain, regionID: siteRegion(domain, cfg.Region), transport: cfg.Transport}
	if c.transport == nil {
		c.transport = &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           (&net.Dialer{Timeout: connectTimeout, KeepAlive: 30 * time.Second}).DialContext,
			ForceAttemptHTTP2:     true,
			MaxIdleConns:          100,
			MaxIdleConnsPerHost:   32,
			IdleConnTimeout:       90 * time.Second,
			TLSHandshakeTimeout:   connectTimeout,
			ExpectContinueTimeout: time.Second,
		}
	}
	return c, nil
}

// Endpoint is the base URL the client calls, for logs.
func (c *Client) Endpoint() string { return c.scheme + "://" + c.domain }

// parseEndpoint reads a host or an http(s) URL into scheme and host[:port].
func parseEndpoint(raw string) (scheme, domain string, err error) {
	if !strings.Contains(raw, "://") {
		u, err := url.Parse("https://" + raw)
		if err != nil || u.Host != raw || u.Hostname() == "" {
			return "", "", fmt.Errorf("sas: SAS_ENDPOINT %q is neither a host nor an http(s) URL", raw)
		}
		return "https", raw, nil
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", "", fmt.Errorf("sas: SAS_ENDPOINT %s is not a URL", secret.RedactURL(raw))
	}
	scheme = strings.ToLower(u.Scheme)
	switch {
	case scheme != "http" && scheme != "https":
		return "", "", fmt.Errorf("sas: SAS_ENDPOINT %s: scheme must be http or https", secret.RedactURL(raw))
	case u.Hostname() == "":
		return "", "", fmt.Errorf("sas: SAS_ENDPOINT %s has no host", secret.RedactURL(raw))
	case u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "":
		return "", "", fmt.Errorf("sas: SAS_ENDPOINT %s: give only scheme, host and port (RPC calls go to /)", secret.RedactURL(raw))
	}
	return scheme, u.Host, nil
}

// siteRegion is the common RegionId: the region of the site the endpoint
// serves, read from a public endpoint's host, else from the function's
// region (mainland when unknown).
func siteRegion(domain, region string) string {
	switch {
	case strings.HasPrefix(domain, "tds.ap-southeast-1."):
		return "ap-southeast-1"
	case strings.HasPrefix(domain, "tds.cn-shanghai."):
		return "cn-shanghai"
	case DefaultEndpoint(region) == internationalEndpoint:
		return "ap-southeast-1"
	default:
		return "cn-shanghai"
	}
}

// lane is one SDK client and the call it is serving. A lane serves one
// call at a time; its transport and credentials provider read the call's
// context and keys from it.
type lane struct {
	sdk    *sdk.Client
	ctx    context.Context
	creds  credentials.Credentials
	status int // the latest HTTP status received, for answers the SDK cannot read
}

func (c *Client) acquire() (*lane, error) {
	c.mu.Lock()
	if n := len(c.idle); n > 0 {
		l := c.idle[n-1]
		c.idle = c.idle[:n-1]
		c.mu.Unlock()
		return l, nil
	}
	c.mu.Unlock()
	l := &lane{}
	cfg := sdk.NewConfig()
	cfg.AutoRetry = false // retries are ours (Paging, the callers), never the SDK's
	cfg.Scheme = strings.ToUpper(c.scheme)
	cfg.Transport = &laneTransport{lane: l, next: c.transport}
	client, err := sdk.NewClientWithOptions(c.regionID, cfg, laneCredentials{l})
	if err != nil {
		return nil, err
	}
	l.sdk = client
	return l, nil
}

func (c *Client) release(l *lane) {
	l.ctx, l.creds, l.status = nil, credentials.Credentials{}, 0
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.idle) < maxIdleLanes {
		c.idle = append(c.idle, l)
	}
}

// laneCredentials gives the SDK the keys of the lane's current call.
type laneCredentials struct{ lane *lane }

func (p laneCredentials) GetCredentials() (*credentials.Credentials, error) {
	cc := p.lane.creds
	return &cc, nil
}

func (p laneCredentials) GetProviderName() string { return p.lane.creds.ProviderName }

// laneTransport ties each request to the lane's call context, so that
// cancelling the context ends the exchange (the v1 SDK takes no context).
type laneTransport struct {
	lane *lane
	next http.RoundTripper
}

func (t *laneTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx, cancel := context.WithCancelCause(req.Context())
	callCtx := t.lane.ctx
	stop := context.AfterFunc(callCtx, func() { cancel(context.Cause(callCtx)) })
	release := func() { stop(); cancel(nil) }
	resp, err := t.next.RoundTrip(req.WithContext(ctx))
	if err != nil {
		release()
		return nil, err
	}
	t.lane.status = resp.StatusCode
	resp.Body = &releasingBody{ReadCloser: resp.Body, release: release}
	return resp, nil
}

// releasingBody releases the request's context once the SDK has read the body.
type releasingBody struct {
	io.ReadCloser
	release func()
}

func (b *releasingBody) Close() error {
	err := b.ReadCloser.Close()
	b.release()
	return err
}

// call sends one signed RPC request and returns the body of a 2xx answer.
// It makes exactly one attempt.
func (c *Client) call(ctx context.Context, creds secret.Credentials, action string, params map[string]string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, fromContext(action, err)
	}
	if !creds.Complete() {
		return nil, &failure.Error{Service: service, Op: action, Class: failure.Auth, Message: "no access key id or secret"}
	}
	timeout := defaultTimeout
	if deadline, ok := ctx.Deadline(); ok {
		timeout = time.Until(deadline)
		if timeout <= 0 {
			return nil, fromContext(action, context.DeadlineExceeded)
		}
	}
	l, err := c.acquire()
	if err != nil {
		return nil, &failure.Error{Service: service, Op: action, Class: failure.Permanent, Message: cleanMessage(err.Error(), creds)}
	}
	defer c.release(l)
	l.ctx = ctx
	l.creds = credentials.Credentials{
		AccessKeyId:     creds.AccessKeyID,
		AccessKeySecret: creds.AccessKeySecret.Reveal(),
		SecurityToken:   creds.SecurityToken.Reveal(),
		ProviderName:    "static_ak",
	}
	if creds.SecurityToken.Set() {
		l.creds.ProviderName = "static_sts"
	}

	// A new request per call: signing writes into its QueryParams and Domain.
	req := requests.NewCommonRequest()
	req.Method = requests.POST
	req.Scheme = c.scheme
	req.Domain = c.domain
	req.Product = product
	req.Version = apiVersion
	req.ApiName = action
	for k, v := range params {
		if v != "" {
			req.QueryParams[k] = v
		}
	}
	// Set on every request: the SDK copies it into the lane's http.Client,
	// where a later call without its own timeout would inherit it.
	req.SetReadTimeout(timeout)

	body, status, err := process(l.sdk, req)
	switch {
	case ctx.Err() != nil:
		return nil, fromContext(action, ctx.Err())
	case status == errUnreadable:
		return nil, &failure.Error{Service: service, Op: action, Class: classify("", l.status, ""), HTTPStatus: l.status,
			Message: "the error answer has a field of an unexpected type"}
	case err != nil:
		return nil, fromSDK(action, err, creds)
	}
	return body, nil
}

// errUnreadable marks an error answer the SDK panicked on.
const errUnreadable = -1

// process runs the SDK call, recovering from the panic its error decoding
// raises when a field of an error body is not a string.
func process(client *sdk.Client, req *requests.CommonRequest) (body []byte, status int, err error) {
	defer func() {
		if recover() != nil {
			body, status, err = nil, errUnreadable, nil
		}
	}()
	resp, err := client.ProcessCommonRequest(req)
	if err != nil {
		return nil, 0, err
	}
	return resp.GetHttpContentBytes(), resp.GetHttpStatus(), nil
}
