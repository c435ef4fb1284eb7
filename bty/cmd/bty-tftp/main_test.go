package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	pintftp "github.com/pin/tftp/v3"

	"github.com/bty-lab/bty/bty/imagetest"
	"github.com/bty-lab/bty/internal/testenv"
)

// signalAfter passes writes on and closes reached once n bytes went by.
type signalAfter struct {
	w       io.Writer
	n       int
	reached chan struct{}
}

func (s *signalAfter) Write(p []byte) (int, error) {
	before := s.n
	s.n -= len(p)
	if before > 0 && s.n <= 0 {
		close(s.reached)
	}
	return s.w.Write(p)
}

// SIGTERM lets a transfer in flight finish before the process exits
// (issue 18: the process exited as soon as its socket closed, cutting
// the transfers the package said it waited for).
func TestSIGTERMFinishesTransfersInFlight(t *testing.T) {
	bin := testenv.Binary(t, "BTY_TFTP_BINARY", "github.com/bty-lab/bty/bty/cmd/bty-tftp")
	root := t.TempDir()
	big := imagetest.Disk(24<<20, 3)
	os.WriteFile(filepath.Join(root, "big.efi"), big, 0o644)
	os.WriteFile(filepath.Join(root, "small"), []byte("x"), 0o644)
	addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	cmd := exec.Command(bin, "-root", root, "-listen", addr)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() { cmd.Process.Kill() })

	c, err := pintftp.NewClient(addr)
	if err != nil {
		t.Fatal(err)
	}
	c.SetTimeout(time.Second)
	deadline := time.Now().Add(20 * time.Second)
	for {
		wt, err := c.Receive("small", "octet")
		if err == nil {
			wt.WriteTo(io.Discard)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("bty-tftp never answered: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}

	var got bytes.Buffer
	w := &signalAfter{w: &got, n: 1 << 20, reached: make(chan struct{})}
	done := make(chan error, 1)
	go func() {
		c.SetBlockSize(512) // many round trips: the transfer takes seconds
		wt, err := c.Receive("big.efi", "octet")
		if err == nil {
			_, err = wt.WriteTo(w)
		}
		done <- err
	}()
	select {
	case <-w.reached:
	case err := <-done:
		t.Fatalf("transfer ended before the signal: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("transfer did not start")
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if err := <-done; err != nil {
		t.Fatalf("transfer in flight at SIGTERM: %v", err)
	}
	if !bytes.Equal(got.Bytes(), big) {
		t.Fatalf("got %d bytes, want all %d", got.Len(), len(big))
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("bty-tftp exited with %v after SIGTERM", err)
		}
	case <-time.After(30 * time.Second):
		t.Error("bty-tftp did not exit after SIGTERM")
	}
}
