package fcruntime

import (
	"bytes"
	"sync"
)

// Output keeps a function's output, safe for the writes of its processes
// and the reads of whoever watches it: use one as a Config's Stdout and
// Stderr.
type Output struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (o *Output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.Write(p)
}

// String is all the output so far.
func (o *Output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.String()
}

// Tail is the last n bytes of the output.
func (o *Output) Tail(n int) string {
	s := o.String()
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}
