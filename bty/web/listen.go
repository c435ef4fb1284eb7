package web

import (
	"net"
	"sync"
)

// limitListener accepts at most n connections open at once; further
// clients wait in the kernel's accept queue, holding no descriptor of
// ours. Its connections are the *net.TCPConn itself with a Close that
// frees the slot, so net/http still finds ReadFrom on them and sends
// files with sendfile(2). golang.org/x/net/netutil's LimitListener wraps
// them in a type that hides ReadFrom: every boot file and image then went
// through a user-space copy (the fleet bench: bty-web spent 4.8 times
// nginx's CPU per byte).
type limitListener struct {
	*net.TCPListener
	slots chan struct{}
}

func newLimitListener(ln *net.TCPListener, n int) net.Listener {
	return &limitListener{TCPListener: ln, slots: make(chan struct{}, n)}
}

func (l *limitListener) Accept() (net.Conn, error) {
	l.slots <- struct{}{}
	c, err := l.AcceptTCP()
	if err != nil {
		<-l.slots
		return nil, err
	}
	return &limitedConn{TCPConn: c, release: func() { <-l.slots }}, nil
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
