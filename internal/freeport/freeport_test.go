package freeport

import (
	"net"
	"strconv"
	"testing"
)

// Each port is free to listen on once returned.
func TestPortsAreFree(t *testing.T) {
	tcp, err := TCP()
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(tcp))
	if err != nil {
		t.Fatalf("TCP port %d: %v", tcp, err)
	}
	l.Close()
	udp, err := UDP()
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.ListenPacket("udp", "127.0.0.1:"+strconv.Itoa(udp))
	if err != nil {
		t.Fatalf("UDP port %d: %v", udp, err)
	}
	c.Close()
}
