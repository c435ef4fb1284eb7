package web

import (
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
)

// limitListener accepts at most n connections open at once; further
// clients wait in the kernel's accept queue, holding no descriptor of
// ours. Its connections are the *net.TCPConn itself with a Close that
// frees the slot, so net/http still finds ReadFrom on them and sends
// files with sendfile(2). golang.org/x/net/netutil's LimitListener wraps
// them in a type that hides ReadFrom: every boot file and image then went
// through a user-space copy (the fleet bench: bty-web spent 4.8 times
// nginx's CPU per byte).
//
// perAddr bounds the connections of one client address (0: no bound):
// without it a few clients that send their headers or bodies slowly could
// hold every slot for limits.idle_seconds at a time, and every other
// client waited that long. One past it is closed as soon as it is
// accepted, without taking a slot.
type limitListener struct {
	*net.TCPListener
	slots   chan struct{}
	perAddr int
	mu      sync.Mutex
	byAddr  map[netip.Addr]int
	refused atomic.Int64 // connections closed at once: their address had perAddr
}

func newLimitListener(ln *net.TCPListener, n, perAddr int) *limitListener {
	return &limitListener{TCPListener: ln, slots: make(chan struct{}, n), perAddr: perAddr, byAddr: map[netip.Addr]int{}}
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		l.slots <- struct{}{}
		c, err := l.AcceptTCP()
		if err != nil {
			<-l.slots
			return nil, err
		}
		addr := c.RemoteAddr().(*net.TCPAddr).AddrPort().Addr().Unmap()
		if !l.take(addr) {
			l.refused.Add(1)
			c.SetLinger(0) // a reset: the client learns at once
			c.Close()
			<-l.slots
			continue
		}
		return &limitedConn{TCPConn: c, release: func() { l.drop(addr); <-l.slots }}, nil
	}
}

// take counts a connection of addr, unless addr has perAddr already.
func (l *limitListener) take(addr netip.Addr) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.perAddr > 0 && l.byAddr[addr] >= l.perAddr {
		return false
	}
	l.byAddr[addr]++
	return true
}

func (l *limitListener) drop(addr netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.byAddr[addr]--; l.byAddr[addr] <= 0 {
		delete(l.byAddr, addr)
	}
}

// limitedConn is a TCP connection that frees its slot once closed; it
// keeps every method of *net.TCPConn (ReadFrom: sendfile).
type limitedConn struct {
	*net.TCPConn
	once    sync.Once
	release func()
}

func (c *limitedConn) Close() error {
	err := c.TCPConn.Close()
	c.once.Do(c.release)
	return err
}
