package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/bty-lab/bty/bty/mac"
	"github.com/bty-lab/bty/bty/provision"
	"github.com/bty-lab/bty/bty/pxescript"
	"github.com/bty-lab/bty/bty/state"
)

func writeScript(w http.ResponseWriter, render func() ([]byte, error)) {
	script, err := render()
	if err != nil {
		writeError(w, http.StatusInternalServerError, "%v", err)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Write(script)
}

func (s *Server) bootstrap(w http.ResponseWriter, r *http.Request) {
	base, err := s.base(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, "%v", err)
		return
	}
	writeScript(w, func() ([]byte, error) { return pxescript.Bootstrap(base) })
}

// imagesAt returns the base URL clients reach this server at and every
// image, or answers the error itself and reports false.
func (s *Server) imagesAt(w http.ResponseWriter, r *http.Request) (string, []state.Image, bool) {
	base, err := s.base(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, "%v", err)
		return "", nil, false
	}
	imgs, err := s.store.Images(r.Context())
	if err != nil {
		writeError(w, http.StatusInternalServerError, "%v", err)
		return "", nil, false
	}
	return base, imgs, true
}

// baseAndLookup is lookupImages for a route: the base URL clients reach
// this server at and the images as the provision rules look them up, or
// the error answered. They are read up front: the rules run inside a
// machine's transaction, where the Store may not be used.
func (s *Server) baseAndLookup(w http.ResponseWriter, r *http.Request) (string, func(string) (provision.Image, bool), bool) {
	base, _, lookup, err := s.lookupImages(r)
	if err != nil {
		writeError(w, statusOf(err), "%v", err)
		return "", nil, false
	}
	return base, lookup, true
}

func (s *Server) imageURL(base string, img state.Image) string {
	if img.Uploaded {
		return base + "/images/" + img.Ref + "/" + img.Name
	}
	return img.Src
}

// pxeScript serves the per-MAC iPXE script (GET /pxe/{mac}).
func (s *Server) pxeScript(w http.ResponseWriter, r *http.Request) {
	s.bootScript(w, r, pxescript.IPXE)
}

// grubScript serves the same decision as GRUB config (GET
// /pxe/{mac}/grub), for Secure Boot machines that come through shim and
// Debian's signed GRUB (grub/grub.cfg on the TFTP server loads it).
func (s *Server) grubScript(w http.ResponseWriter, r *http.Request) {
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
	s.bootScript(w, r, pxescript.GRUB)
}

// bootScript serves the per-MAC script in format f and applies the boot's
// state change (a new machine, a disarm after a local boot) with its
// event, atomically. A HEAD request (a monitoring probe) changes nothing.
// A machine still gets its script when the state cannot be written (a
// full disk): booting must not depend on the audit log.
func (s *Server) bootScript(w http.ResponseWriter, r *http.Request, f pxescript.Format) {
	addr, ok := s.macParam(w, r)
	if !ok {
		return
	}
	base, lookup, ok := s.baseAndLookup(w, r)
	if !ok {
		return
	}
	boot, err := provision.ParseBoot(r.URL.Query().Get("arch"), r.URL.Query().Get("platform"))
	if err != nil {
		writeError(w, http.StatusBadRequest, "%v", err)
		return
	}
	var d provision.Decision
	if r.Method == http.MethodHead {
		d, err = s.decideReadOnly(r, addr, boot, lookup)
	} else {
		d, err = s.decide(r, addr, boot, lookup)
	}
	if err != nil {
		s.log.Error("pxe: cannot record the boot; answering from the stored state", "mac", addr, "err", err)
		if d, err = s.decideReadOnly(r, addr, boot, lookup); err != nil {
			s.log.Error("pxe: cannot read the state; sending the machine to its disk", "mac", addr, "err", err)
			d = provision.Decision{Action: provision.BootRefused, Reason: "bty-web cannot read its state"}
		}
	}
	s.log.Info("pxe offer", "mac", addr, "action", d.Action.String(), "arch", d.Next.Arch, "firmware", d.Next.Firmware, "format", f.Name)
	writeScript(w, func() ([]byte, error) { return s.renderBoot(f, base, addr, d) })
}

// renderBoot is a boot decision as a script in format f: every format says
// the same thing with the same URLs.
func (s *Server) renderBoot(f pxescript.Format, base string, addr mac.Addr, d provision.Decision) ([]byte, error) {
	switch d.Action {
	case provision.BootFlasher, provision.BootInventory, provision.BootInteractive:
		// The live environment for the machine's architecture (DecideBoot
		// checked it is here), its purpose named by the action.
		nb, err := pxescript.NetbootFor(s.version, d.Next.LiveArch())
		if err != nil {
			return nil, err
		}
		return f.Live(base, addr.String(), d.Action.String(), nb)
	case provision.BootRefused:
		return f.Local(addr.String(), d.Reason+", booting the local disk")
	default:
		return f.Local(addr.String(), "booting the local disk")
	}
}

// decide runs one boot of addr and stores its state change and event. An
// unknown MAC is stored as a new machine unless limits.max_machines are
// stored already (unauthenticated clients must not grow the state without
// bound); it then boots as a new machine would, unrecorded.
func (s *Server) decide(r *http.Request, addr mac.Addr, boot provision.Boot, lookup func(string) (provision.Image, bool)) (provision.Decision, error) {
	n, err := s.store.CountMachines(r.Context())
	if err != nil {
		return provision.Decision{}, err
	}
	full := n >= s.cfg.Limits.MaxMachines
	var d provision.Decision
	skipped := false
	_, err = s.store.Update(r.Context(), addr, func(m provision.Machine, exists bool) (state.Change, error) {
		created := !exists
		if created {
			m = provision.New(addr)
		}
		m = m.Booted(boot)
		d = m.DecideBoot(lookup, s.liveFor)
		next := d.Next
		if created && full {
			skipped = true
			return state.Change{}, nil
		}
		detail := map[string]any{"mode": m.BootMode, "action": d.Action.String(), "created": created, "remote": clientAddr(r),
			"arch": m.Arch, "firmware": m.Firmware}
		if d.Reason != "" {
			detail["reason"] = d.Reason
		}
		return state.Change{Machine: &next, Kind: "pxe.offer", Detail: detail}, nil
	})
	if skipped {
		s.log.Warn("pxe: machine limit reached; not storing a new machine", "mac", addr, "limit", s.cfg.Limits.MaxMachines)
	}
	return d, err
}

// decideReadOnly is decide without any change: what the stored state says.
func (s *Server) decideReadOnly(r *http.Request, addr mac.Addr, boot provision.Boot, lookup func(string) (provision.Image, bool)) (provision.Decision, error) {
	m, err := s.store.Machine(r.Context(), addr)
	if errors.Is(err, state.ErrNotFound) {
		m, err = provision.New(addr), nil
	}
	if err != nil {
		return provision.Decision{}, err
	}
	return m.Booted(boot).DecideBoot(lookup, s.liveFor), nil
}

// liveFor says why this server cannot boot a live environment for arch:
// bty builds none for it, or its trio is not in /boot.
func (s *Server) liveFor(arch string) error {
	nb, err := pxescript.NetbootFor(s.version, arch)
	if err != nil {
		return err
	}
	for _, name := range nb.Files() {
		if _, err := os.Stat(filepath.Join(s.bootDir, name)); err != nil {
			return fmt.Errorf("no live system for %s machines here: upload %s, %s and %s to /boot", arch, nb.Kernel, nb.Initrd, nb.Squashfs)
		}
	}
	return nil
}

func (s *Server) machine(w http.ResponseWriter, r *http.Request) (provision.Machine, bool) {
	addr, ok := s.macParam(w, r)
	if !ok {
		return provision.Machine{}, false
	}
	m, err := s.store.Machine(r.Context(), addr)
	if errors.Is(err, state.ErrNotFound) {
		writeError(w, http.StatusNotFound, "unknown machine %s", addr)
		return m, false
	}
	if err != nil {
		writeError(w, http.StatusInternalServerError, "%v", err)
		return m, false
	}
	return m, true
}

func (s *Server) plan(w http.ResponseWriter, r *http.Request) {
	m, ok := s.machine(w, r)
	if !ok {
		return
	}
	base, lookup, ok := s.baseAndLookup(w, r)
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, m.Decide(lookup, base+"/catalog.toml").Plan)
}

// report applies fn to a known machine as one transaction with its event.
func (s *Server) report(r *http.Request, addr mac.Addr, kind string, detail any, fn func(provision.Machine) (provision.Machine, error)) error {
	_, err := s.store.Update(r.Context(), addr, func(m provision.Machine, exists bool) (state.Change, error) {
		if !exists {
			return state.Change{}, state.ErrNotFound
		}
		next, err := fn(m)
		if err != nil {
			return state.Change{}, err
		}
		return state.Change{Machine: &next, Kind: kind, Detail: detail}, nil
	})
	return err
}

// writeNoContent answers a change to machine addr: 204, or 404 for an
// unknown machine, or 500.
func writeNoContent(w http.ResponseWriter, err error, addr mac.Addr) {
	switch {
	case errors.Is(err, state.ErrNotFound):
		writeError(w, http.StatusNotFound, "unknown machine %s", addr)
	case err != nil:
		writeError(w, http.StatusInternalServerError, "%v", err)
	default:
		w.WriteHeader(http.StatusNoContent)
	}
}

func (s *Server) status(w http.ResponseWriter, r *http.Request) {
	addr, ok := s.macParam(w, r)
	if !ok {
		return
	}
	var st provision.Status
	if !decodeJSON(w, r, 16<<10, &st) {
		return
	}
	if err := st.Validate(); err != nil {
		writeError(w, http.StatusUnprocessableEntity, "%v", err)
		return
	}
	remote := clientAddr(r)
	// Progress reports update the machine but log no event: one a second
	// from every flashing machine would push the audit log's real events
	// out of its retention.
	kind := ""
	detail := map[string]string{"status": st.Status, "reason": st.Reason, "remote": remote}
	if st.Status != provision.StatusProgress {
		kind = "flash." + st.Status
		if st.SHA256 != "" {
			detail["sha256"] = st.SHA256
		}
		s.log.Info("flash status", "mac", addr, "status", st.Status, "reason", st.Reason, "remote", remote)
	}
	err := s.report(r, addr, kind, detail, func(m provision.Machine) (provision.Machine, error) { return m.Report(st, s.store.Now()) })
	if errors.Is(err, provision.ErrNotFlashing) {
		s.store.Log(r.Context(), "flash.status_refused", addr, remote, detail)
		writeError(w, http.StatusConflict, "%s is %v; status refused", addr, err)
		return
	}
	writeNoContent(w, err, addr)
}

// The inventory route is open, so what it stores is bounded: at most
// maxInventoryDisks disks, the fields of provision.InventoryDisk only, each
// string at most maxInventoryString bytes.
const (
	maxInventoryDisks  = 64
	maxInventoryString = 256
)

func (s *Server) inventory(w http.ResponseWriter, r *http.Request) {
	addr, ok := s.macParam(w, r)
	if !ok {
		return
	}
	var inv struct {
		Disks []json.RawMessage `json:"disks"`
	}
	if !decodeJSON(w, r, 64<<10, &inv) {
		return
	}
	if len(inv.Disks) > maxInventoryDisks {
		writeError(w, http.StatusUnprocessableEntity, "%d disks reported; at most %d", len(inv.Disks), maxInventoryDisks)
		return
	}
	kept := provision.Inventory{Disks: make([]provision.InventoryDisk, len(inv.Disks))}
	for i, raw := range inv.Disks {
		d := &kept.Disks[i]
		if err := json.Unmarshal(raw, d); err != nil {
			writeError(w, http.StatusUnprocessableEntity, "disk %d: %v", i+1, err)
			return
		}
		for _, f := range []string{d.Path, d.Model, d.Serial} {
			if len(f) > maxInventoryString {
				writeError(w, http.StatusUnprocessableEntity, "disk %d: a field is longer than %d bytes", i+1, maxInventoryString)
				return
			}
		}
	}
	body, _ := json.Marshal(kept)
	err := s.report(r, addr, "inventory", map[string]int{"disks": len(inv.Disks)}, func(m provision.Machine) (provision.Machine, error) {
		m.Inventory, m.Inventoried = body, true
		return m, nil
	})
	writeNoContent(w, err, addr)
}
