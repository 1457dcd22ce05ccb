package redistest

import (
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Proxy is a loopback TCP proxy in front of a Redis server. It counts round
// trips, the way a client pays for them, and can add latency to each: a
// round trip starts when a client writes after the server last answered it
// (or on a fresh connection), so a pipeline or one script call is one round
// trip however many commands it carries, and a command split across TCP
// segments is still one. It can also freeze, as a hung Redis or a network
// partition looks to a client: connections stay open, nothing is answered.
type Proxy struct {
	// URL is the go-redis URL of database 0 through the proxy.
	URL string
	// Addr is the proxy's host:port.
	Addr string

	target  string
	latency atomic.Int64 // time.Duration added to each round trip
	ln      net.Listener
	trips   atomic.Int64
	held    atomic.Int64 // forwards waiting for a thaw
	// cutIn counts the round trips left before the proxy cuts every
	// connection and refuses new ones; 0 when no cut is armed.
	cutIn atomic.Int64
	down  atomic.Bool

	mu     sync.Mutex
	conns  map[net.Conn]bool
	closed bool
	thawed chan struct{} // closed while not frozen
	wg     sync.WaitGroup
}

// NewProxy listens on a free loopback port and forwards every connection
// to target (host:port), adding latency before each round trip reaches it.
// The caller must call Close.
func NewProxy(target string, latency time.Duration) (*Proxy, error) {
	if latency < 0 {
		return nil, fmt.Errorf("redistest: negative proxy latency %s", latency)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("redistest: proxy listen: %w", err)
	}
	p := &Proxy{
		URL: "redis://" + ln.Addr().String() + "/0", Addr: ln.Addr().String(),
		target: target, ln: ln, conns: map[net.Conn]bool{}, thawed: make(chan struct{}),
	}
	p.latency.Store(int64(latency))
	close(p.thawed)
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// CutAfter lets n more round trips through, then cuts every connection in
// the middle of the next one and refuses new connections until Heal: Redis
// lost mid-call, at an exact point of the client's work.
func (p *Proxy) CutAfter(n int) { p.cutIn.Store(int64(n) + 1) }

// Heal lets connections through again after a cut.
func (p *Proxy) Heal() {
	p.cutIn.Store(0)
	p.down.Store(false)
}

// cut closes every connection and marks the proxy down.
func (p *Proxy) cut() {
	p.down.Store(true)
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		c.Close()
	}
}

// RoundTrips is how many round trips clients have made through the proxy.
func (p *Proxy) RoundTrips() int { return int(p.trips.Load()) }

// SetLatency changes the latency added to each round trip from the next
// one on, on open connections too: a slow spell of a running Redis. 150 ms
// each way is SetLatency(300 * time.Millisecond).
func (p *Proxy) SetLatency(d time.Duration) { p.latency.Store(int64(max(d, 0))) }

// Freeze stops forwarding in both directions until Thaw; what clients and
// the server write meanwhile is held, not lost.
func (p *Proxy) Freeze() {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.thawed:
		p.thawed = make(chan struct{})
	default: // already frozen
	}
}

// Thaw undoes Freeze.
func (p *Proxy) Thaw() {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.thawed:
	default:
		close(p.thawed)
	}
}

// Held is how many forwards, in either direction, wait for a thaw: what a
// test waits on to know that a frozen proxy holds a client's request.
func (p *Proxy) Held() int { return int(p.held.Load()) }

// awaitThaw blocks while the proxy is frozen.
func (p *Proxy) awaitThaw() {
	p.mu.Lock()
	thawed := p.thawed
	p.mu.Unlock()
	select {
	case <-thawed:
		return
	default:
	}
	p.held.Add(1)
	defer p.held.Add(-1)
	<-thawed
}

// Close stops listening, cuts every connection and waits for the copiers.
func (p *Proxy) Close() {
	p.mu.Lock()
	p.closed = true
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.Thaw() // copiers held by a freeze find their connections cut
	p.ln.Close()
	p.wg.Wait()
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		client, err := p.ln.Accept()
		if err != nil {
			return
		}
		if p.down.Load() {
			client.Close()
			continue
		}
		server, err := net.Dial("tcp", p.target)
		if err != nil {
			client.Close()
			continue
		}
		if !p.track(client, server) {
			return
		}
		p.wg.Add(1)
		go p.serve(client, server)
	}
}

// track registers a connection pair so that Close can cut it; it reports
// false (and closes both) once the proxy is closed.
func (p *Proxy) track(conns ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		for _, c := range conns {
			c.Close()
		}
		return false
	}
	for _, c := range conns {
		p.conns[c] = true
	}
	return true
}

func (p *Proxy) untrack(conns ...net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range conns {
		c.Close()
		delete(p.conns, c)
	}
}

// serve copies one connection both ways until either side closes.
func (p *Proxy) serve(client, server net.Conn) {
	defer p.wg.Done()
	defer p.untrack(client, server)
	// answered is set when the server has written to the client since the
	// client's last write: the client's next write starts a round trip.
	var answered atomic.Bool
	answered.Store(true)
	done := make(chan struct{})
	go func() {
		defer close(done)
		// The server gone (a restart, a crash), the client's connection
		// drops too, as it does when nothing stands between them: a client
		// left writing into a connection nothing reads would wait out a
		// timeout on each one it pooled.
		defer client.Close()
		buf := make([]byte, 32<<10)
		for {
			n, err := server.Read(buf)
			if n > 0 {
				p.awaitThaw()
				answered.Store(true)
				if _, werr := client.Write(buf[:n]); werr != nil {
					return
				}
			}
			if err != nil {
				return
			}
		}
	}()
	buf := make([]byte, 32<<10)
	for {
		n, err := client.Read(buf)
		if n > 0 {
			if answered.Swap(false) {
				if p.cutIn.Load() > 0 && p.cutIn.Add(-1) == 0 {
					p.cut()
					break
				}
				p.trips.Add(1)
				if d := time.Duration(p.latency.Load()); d > 0 {
					time.Sleep(d)
				}
			}
			p.awaitThaw()
			if _, werr := server.Write(buf[:n]); werr != nil {
				break
			}
		}
		if err != nil {
			break
		}
	}
	server.Close()
	<-done
}
