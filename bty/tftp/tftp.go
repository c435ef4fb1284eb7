// Package tftp serves one directory read-only over TFTP (github.com/pin/tftp),
// for the firmware and iPXE binaries that machines fetch before any HTTP.
//
// Names are checked before anything is opened: absolute paths, "..", and
// backslashes are refused, and files are opened through os.Root, so neither
// a name nor a symlink can reach outside the directory. Write requests are
// refused. Each transfer is logged with its peer, file, size and outcome.
package tftp

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"time"

	pintftp "github.com/pin/tftp/v3"
)

// Server is a read-only TFTP server over one directory.
type Server struct {
	root *os.Root
	log  *slog.Logger
	srv  *pintftp.Server
}

// New serves dir.
func New(dir string, log *slog.Logger) (*Server, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("tftp root: %w", err)
	}
	s := &Server{root: root, log: log}
	// A nil write handler makes the library refuse write requests.
	s.srv = pintftp.NewServer(s.read, nil)
	s.srv.SetTimeout(5 * time.Second)
	return s, nil
}

// Serve answers requests on conn until Shutdown.
func (s *Server) Serve(conn net.PacketConn) error { return s.srv.Serve(conn) }

// ListenAndServe listens on addr (e.g. ":69") and serves.
func (s *Server) ListenAndServe(addr string) error { return s.srv.ListenAndServe(addr) }

// Shutdown stops accepting requests and waits for transfers in flight.
func (s *Server) Shutdown() {
	s.srv.Shutdown()
	s.root.Close()
}

// CheckName returns why a requested name is refused, or nil.
func CheckName(name string) error {
	switch {
	case name == "":
		return errors.New("empty file name")
	case strings.HasPrefix(name, "/"):
		return fmt.Errorf("absolute path %q refused; request names relative to the TFTP root", name)
	case strings.ContainsRune(name, '\\'):
		return fmt.Errorf("backslash in %q refused", name)
	}
	for _, seg := range strings.Split(name, "/") {
		if seg == ".." {
			return fmt.Errorf("%q leaves the TFTP root; refused", name)
		}
	}
	return nil
}

func (s *Server) read(name string, rf io.ReaderFrom) error {
	start := time.Now()
	peer := ""
	if ot, ok := rf.(pintftp.OutgoingTransfer); ok {
		addr := ot.RemoteAddr()
		peer = addr.String()
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

func (s *Server) send(name string, rf io.ReaderFrom) (int64, error) {
	if err := CheckName(name); err != nil {
		return 0, err
	}
	f, err := s.root.Open(name)
	if err != nil {
		return 0, fmt.Errorf("%s: not found", name)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() {
		return 0, fmt.Errorf("%s: not a file", name)
	}
	// tsize: firmware asks for the size before allocating memory.
	if ot, ok := rf.(pintftp.OutgoingTransfer); ok {
		ot.SetSize(st.Size())
	}
	return rf.ReadFrom(f)
}
