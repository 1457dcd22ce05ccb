//go:build !nolocalcloud

package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"precheckwatch/preview"
)

// runPreview serves the page of sample messages, as Slack, DingTalk
// and Feishu would show them, until interrupted.
func runPreview(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("preview", "preview [--addr 127.0.0.1:8080]", stdout, stderr)
	addr := fs.String("addr", "127.0.0.1:8080", "host:port to serve the page on (port 0 picks a free one)")
	if code, ok := fs.parse(args); !ok {
		return code
	}
	if _, _, err := net.SplitHostPort(*addr); err != nil {
		fmt.Fprintf(stderr, "precheckwatch preview: --addr %q is not host:port: %v\n", *addr, err)
		return exitUsage
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintf(stderr, "precheckwatch preview: cannot listen on --addr %s: %v\n", *addr, err)
		return exitFailure
	}
	srv := &http.Server{Handler: preview.Handler(), ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	fmt.Fprintf(stdout, "preview: the sample messages are at %s (interrupt to stop)\n", pageURL(ln.Addr()))

	select {
	case err := <-served:
		fmt.Fprintf(stderr, "precheckwatch preview: %v\n", err)
		return exitFailure
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil && !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintf(stderr, "precheckwatch preview: stop: %v\n", err)
		return exitFailure
	}
	return exitOK
}

// pageURL is the page's address for a browser: a wildcard listen address
// is reached on loopback.
func pageURL(a net.Addr) string {
	host, port, err := net.SplitHostPort(a.String())
	if err != nil {
		return "http://" + a.String() + "/"
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port) + "/"
}
