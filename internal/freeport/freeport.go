// Package freeport asks the kernel for free loopback ports, for the
// servers tests and benches start themselves: never a fixed port, which
// another run or service on the machine may hold.
package freeport

import "net"

// TCP returns a TCP port on 127.0.0.1 that was free a moment ago.
func TCP() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// UDP returns a UDP port on 127.0.0.1 that was free a moment ago.
func UDP() (int, error) {
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port, nil
}
