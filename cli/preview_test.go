//go:build !nolocalcloud

package cli

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestPreviewCommandArguments(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{"help", []string{"--help"}, exitOK, "Usage: precheckwatch preview [--addr 127.0.0.1:8080]", ""},
		{"extra argument", []string{"now"}, exitUsage, "", `unexpected argument "now"`},
		{"address without a port", []string{"--addr", "localhost"}, exitUsage, "", `--addr "localhost" is not host:port`},
		{"address in use", []string{"--addr", busy.Addr().String()}, exitFailure, "", "cannot listen on --addr " + busy.Addr().String()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := cli(t, append([]string{"preview"}, tc.args...)...)
			if code != tc.code || !strings.Contains(errOut, tc.stderr) || !strings.Contains(out, tc.stdout) || (tc.stdout == "") != (out == "") {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit %d, %q and %q", code, out, errOut, tc.code, tc.stdout, tc.stderr)
			}
		})
	}
}

// TestPreviewCommandServesThePage runs the command, loads the page from
// the URL it prints, and interrupts it.
func TestPreviewCommandServesThePage(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	var wg sync.WaitGroup
	wg.Add(1)
	code := -1
	go func() {
		defer wg.Done()
		defer pw.Close()
		code = runPreview(ctx, []string{"--addr", "127.0.0.1:0"}, pw, io.Discard)
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	go io.Copy(io.Discard, pr)
	if err != nil {
		cancel()
		wg.Wait()
		t.Fatalf("no URL printed: %v (exit %d)", err, code)
	}
	const prefix = "preview: the sample messages are at "
	url, _, _ := strings.Cut(strings.TrimPrefix(line, prefix), " ")
	if !strings.HasPrefix(line, prefix) || !strings.HasPrefix(url, "http://127.0.0.1:") {
		t.Fatalf("printed %q, want %q and a loopback URL", line, prefix)
	}

	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Errorf("GET %s: %s, Content-Type %q", url, resp.Status, resp.Header.Get("Content-Type"))
	}
	for _, want := range []string{`data-sample="oracle-failed"`, `data-sample="operator-alert"`, "NOT_ARCHIVELOG"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("the page lacks %s", want)
		}
	}

	cancel()
	wg.Wait()
	if code != exitOK {
		t.Errorf("exit %d after an interrupt, want %d", code, exitOK)
	}
}
