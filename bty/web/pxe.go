package web

import (
	"encoding/json"
	"net"
	"net/http"
	"strings"

	"github.com/bty-lab/bty/bty/lab"
	"github.com/bty-lab/bty/bty/mac"
	"github.com/bty-lab/bty/bty/provision"
	"github.com/bty-lab/bty/bty/pxescript"
)

// The routes machines use: no credentials, so each is a bounded read of
// the request, one operation of package lab, and its answer.

func (s *Server) writeScript(w http.ResponseWriter, r *http.Request, script []byte, err error) {
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Write(script)
}

func (s *Server) bootstrap(w http.ResponseWriter, r *http.Request) {
	base, err := s.base(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	script, err := pxescript.Bootstrap(base)
	s.writeScript(w, r, script, err)
}

// snapshot is the lab as this request sees it, at the URL the client
// reached this server at.
func (s *Server) snapshot(r *http.Request) (*lab.Snapshot, error) {
	base, err := s.base(r)
	if err != nil {
		return nil, err
	}
	return s.lab.Snapshot(r.Context(), base)
}

// pxeScript serves the per-MAC iPXE script (GET /pxe/{mac}).
func (s *Server) pxeScript(w http.ResponseWriter, r *http.Request, addr mac.Addr) {
	s.bootScript(w, r, pxescript.IPXE, addr)
}

// grubScript serves the same decision as GRUB config (GET
// /pxe/{mac}/grub), for Secure Boot machines that come through shim and
// Debian's signed GRUB (grub/grub.cfg on the TFTP server loads it).
func (s *Server) grubScript(w http.ResponseWriter, r *http.Request, addr mac.Addr) {
	// GRUB's HTTP client sends Host without the port, even when it
	// connected to another one than 80: the URLs it gets back must carry
	// the port it came in on, or it fetches the kernel from port 80.
	if _, _, err := net.SplitHostPort(r.Host); err != nil {
		if la, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
			if _, port, err := net.SplitHostPort(la.String()); err == nil && port != "80" {
				r.Host = net.JoinHostPort(strings.Trim(r.Host, "[]"), port)
			}
		}
	}
	s.bootScript(w, r, pxescript.GRUB, addr)
}

// bootScript serves the per-MAC script in format f; the boot's state
// change is lab.Boot's. A HEAD request (a monitoring probe) changes
// nothing.
func (s *Server) bootScript(w http.ResponseWriter, r *http.Request, f pxescript.Format, addr mac.Addr) {
	boot, err := provision.ParseBoot(r.URL.Query().Get("arch"), r.URL.Query().Get("platform"))
	if err != nil {
		s.fail(w, r, lab.Errorf(lab.Malformed, "%v", err))
		return
	}
	snap, err := s.snapshot(r)
	if err != nil && lab.KindOf(err) == lab.Internal {
		// Booting must not depend on the state: a machine that asks while
		// it cannot be read (a database down) boots its disk, told why.
		s.log.Error("pxe: cannot read the images; sending the machine to its disk", "mac", addr, "err", err)
		script, err := f.Local(addr.String(), "bty-web cannot read its state, booting the local disk")
		s.writeScript(w, r, script, err)
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	d := s.lab.Boot(r.Context(), lab.BootRequest{MAC: addr, Boot: boot, Remote: clientAddr(r), ReadOnly: r.Method == http.MethodHead}, snap)
	s.log.Info("pxe offer", "mac", addr, "action", d.Action.String(), "arch", d.Next.Arch, "firmware", d.Next.Firmware, "format", f.Name)
	script, err := s.lab.Script(f, snap, addr, d)
	s.writeScript(w, r, script, err)
}

func (s *Server) plan(w http.ResponseWriter, r *http.Request, addr mac.Addr) {
	snap, err := s.snapshot(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	p, err := s.lab.Plan(r.Context(), addr, bootToken(r), snap)
	s.writeResult(w, r, http.StatusOK, p, err)
}

// bootToken is the live boot's token a machine's request carries
// (Authorization: Bearer, as bty auto sends it).
func bootToken(r *http.Request) string {
	token, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return token
}

// report is a machine's report as lab takes it.
func report(r *http.Request, addr mac.Addr) lab.Report {
	return lab.Report{MAC: addr, Token: bootToken(r), Remote: clientAddr(r)}
}

func (s *Server) status(w http.ResponseWriter, r *http.Request, addr mac.Addr) {
	var st provision.Status
	if err := decodeJSON(w, r, 16<<10, &st); err != nil {
		s.fail(w, r, err)
		return
	}
	s.writeResult(w, r, http.StatusNoContent, nil, s.lab.Report(r.Context(), report(r, addr), st))
}

func (s *Server) inventory(w http.ResponseWriter, r *http.Request, addr mac.Addr) {
	// The disks stay raw here: lab.Inventory checks each against
	// provision.InventoryDisk and bounds what it keeps.
	var inv struct {
		Disks []json.RawMessage `json:"disks"`
	}
	if err := decodeJSON(w, r, 64<<10, &inv); err != nil {
		s.fail(w, r, err)
		return
	}
	s.writeResult(w, r, http.StatusNoContent, nil, s.lab.Inventory(r.Context(), report(r, addr), inv.Disks))
}
