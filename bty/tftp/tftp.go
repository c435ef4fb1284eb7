// Package tftp serves one directory read-only over TFTP (github.com/pin/tftp),
// for the firmware and iPXE binaries that machines fetch before any HTTP.
//
// Names are checked before anything is opened: a leading "/" means the
// directory itself, ".." and backslashes are refused, and files are opened
// through os.Root, so neither a name nor a symlink can reach outside the
// directory. Write requests are
// refused. Each transfer is logged with its peer, file, size and outcome.
package tftp

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	pintftp "github.com/pin/tftp/v3"
)

// Server is a read-only TFTP server over one directory.
type Server struct {
	root *os.Root
	log  *slog.Logger
	srv  *pintftp.Server
	// slots bounds concurrent transfers: each holds a socket and a file,
	// and a flood of requests must not take every file descriptor from
	// the machines that are really booting.
	slots chan struct{}
	web   string // bty-web's HOST:PORT for the chain scripts; "" as shipped

	mu      sync.Mutex
	peers   map[string]int // transfers in flight by peer address
	perPeer int
}

// Options are a Server's settings beyond its directory.
type Options struct {
	// MaxTransfers bounds concurrent transfers (0: DefaultMaxTransfers).
	MaxTransfers int
	// MaxPerPeer bounds one address's concurrent transfers (0:
	// DefaultMaxPerPeer): a booting machine fetches one file at a time.
	MaxPerPeer int
	// Web is bty-web's URL as machines reach it (http://HOST:PORT): the
	// chain scripts are served naming it (see Retarget). Empty: as
	// shipped, DHCP's next-server on port 8080.
	Web string
}

// DefaultMaxTransfers is the default bound on concurrent transfers: far more
// machines than boot at once in a lab, far fewer than the descriptor limit.
const DefaultMaxTransfers = 256

// DefaultMaxPerPeer is the default bound on one address's transfers.
const DefaultMaxPerPeer = 4

// A block not acknowledged within transferTimeout is sent again, at most
// transferRetries times, after retransmitWait: a transfer its client
// abandoned (or never asked for: a spoofed request) holds its slot about
// 4 s, not the library's default 30 (issue 31: 9 small packets a second
// kept every slot busy). A firmware on the same LAN answers in
// milliseconds.
const (
	transferTimeout = time.Second
	transferRetries = 3
	retransmitWait  = 100 * time.Millisecond
)

// ErrBusy is the error a request gets while MaxTransfers are in flight.
var ErrBusy = errors.New("server busy: too many transfers in flight; retry")

// New serves dir with opts.
func New(dir string, log *slog.Logger, opts Options) (*Server, error) {
	var web string
	if opts.Web != "" {
		var err error
		if web, err = ParseWeb(opts.Web); err != nil {
			return nil, err
		}
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("tftp root: %w", err)
	}
	if opts.MaxTransfers <= 0 {
		opts.MaxTransfers = DefaultMaxTransfers
	}
	if opts.MaxPerPeer <= 0 {
		opts.MaxPerPeer = DefaultMaxPerPeer
	}
	s := &Server{root: root, log: log, slots: make(chan struct{}, opts.MaxTransfers), web: web, peers: map[string]int{}, perPeer: opts.MaxPerPeer}
	// A nil write handler makes the library refuse write requests.
	s.srv = pintftp.NewServer(s.read, nil)
	s.srv.SetTimeout(transferTimeout)
	s.srv.SetRetries(transferRetries)
	s.srv.SetBackoff(func(int) time.Duration { return retransmitWait })
	return s, nil
}

// Serve answers requests on conn until Shutdown.
func (s *Server) Serve(conn net.PacketConn) error { return s.srv.Serve(conn) }

// ListenAndServe listens on addr (e.g. ":69") and serves.
func (s *Server) ListenAndServe(addr string) error { return s.srv.ListenAndServe(addr) }

// Shutdown stops accepting requests and waits for transfers in flight
// (each ends or times out).
func (s *Server) Shutdown() {
	s.srv.Shutdown()
	s.root.Close()
}

// RootName returns the file a requested name means inside the root, or
// why it is refused. A leading "/" names the root itself, as TFTP servers
// conventionally read it: Debian's network GRUB asks for
// "/grub/grub.cfg". ".." and backslashes are refused; the root's os.Root
// keeps symlinks inside it too.
func RootName(name string) (string, error) {
	rel := strings.TrimLeft(name, "/")
	switch {
	case rel == "":
		return "", fmt.Errorf("no file name in %q", name)
	case strings.ContainsRune(rel, '\\'):
		return "", fmt.Errorf("backslash in %q refused", name)
	}
	for _, seg := range strings.Split(rel, "/") {
		if seg == ".." {
			return "", fmt.Errorf("%q leaves the TFTP root; refused", name)
		}
	}
	return rel, nil
}

func (s *Server) read(name string, rf io.ReaderFrom) error {
	start := time.Now()
	peer := ""
	if ot, ok := rf.(pintftp.OutgoingTransfer); ok {
		addr := ot.RemoteAddr()
		peer = addr.String()
	}
	host, _, _ := net.SplitHostPort(peer)
	if !s.take(host) {
		s.log.Warn("tftp request refused", "peer", peer, "file", name, "err", ErrPeerBusy)
		return ErrPeerBusy
	}
	defer s.give(host)
	select {
	case s.slots <- struct{}{}:
		defer func() { <-s.slots }()
	default:
		s.log.Warn("tftp request refused", "peer", peer, "file", name, "err", ErrBusy)
		return ErrBusy
	}
	n, err := s.send(name, rf)
	attrs := []any{"peer", peer, "file", name, "bytes", n, "duration", time.Since(start)}
	if err != nil {
		s.log.Warn("tftp transfer failed", append(attrs, "err", err)...)
		return err
	}
	s.log.Info("tftp transfer", attrs...)
	return nil
}

// ErrPeerBusy is the error a request gets while its address has
// MaxPerPeer transfers in flight.
var ErrPeerBusy = errors.New("server busy: too many transfers in flight from this address; retry")

// take counts a transfer of host's, unless it has perPeer in flight.
func (s *Server) take(host string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.peers[host] >= s.perPeer {
		return false
	}
	s.peers[host]++
	return true
}

func (s *Server) give(host string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.peers[host]--; s.peers[host] <= 0 {
		delete(s.peers, host)
	}
}

func (s *Server) send(name string, rf io.ReaderFrom) (int64, error) {
	name, err := RootName(name)
	if err != nil {
		return 0, err
	}
	f, err := s.root.Open(name)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, fmt.Errorf("%s: not found", name)
	}
	if err != nil {
		// Say what it is: "too many open files" is not "not found".
		return 0, fmt.Errorf("%s: %w", name, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() {
		return 0, fmt.Errorf("%s: not a file", name)
	}
	var body io.Reader = f
	size := st.Size()
	if _, chain := chainLines[name]; chain && s.web != "" {
		script, err := io.ReadAll(io.LimitReader(f, 1<<20))
		if err == nil {
			script, err = Retarget(name, script, s.web)
		}
		if err != nil {
			return 0, err
		}
		body, size = bytes.NewReader(script), int64(len(script))
	}
	// tsize: firmware asks for the size before allocating memory.
	if ot, ok := rf.(pintftp.OutgoingTransfer); ok {
		ot.SetSize(size)
	}
	return rf.ReadFrom(body)
}
