package web

import (
	"context"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"strings"

	"github.com/bty-lab/bty/bty/api"
	"github.com/bty-lab/bty/bty/lab"
	"github.com/bty-lab/bty/bty/mac"
	"github.com/bty-lab/bty/bty/provision"
)

// putBMC is PUT /machines/{mac}/bmc: the machine's BMC, its password
// sealed (docs/design.md, "BMC credentials").
func (s *Server) putBMC(w http.ResponseWriter, r *http.Request, addr mac.Addr) {
	var b api.BMC
	if err := decodeJSON(w, r, 4<<10, &b); err != nil {
		s.fail(w, r, err)
		return
	}
	m, err := s.lab.SaveBMC(r.Context(), addr, b, operatorActor)
	s.writeResult(w, r, http.StatusOK, m, err)
}

// readBMCKey reads bmc.key_file: 32 bytes, or 64 hex digits, in a file
// only its owner may read. "" is no key (BMC passwords are refused).
func readBMCKey(path string) ([]byte, error) {
	if path == "" {
		return nil, nil
	}
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("bmc.key_file: %w", err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("bmc.key_file %s is readable by others (mode %v); chmod 600 %s", path, st.Mode().Perm(), path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("bmc.key_file: %w", err)
	}
	if len(b) == provision.KeySize {
		return b, nil
	}
	if k, err := hex.DecodeString(strings.TrimSpace(string(b))); err == nil && len(k) == provision.KeySize {
		return k, nil
	}
	return nil, fmt.Errorf("bmc.key_file %s: want %d random bytes or %d hex digits (head -c 32 /dev/urandom > %s)", path, provision.KeySize, 2*provision.KeySize, path)
}

// power is POST /machines/{mac}/power {"action": "status|on|off|cycle"}:
// the action through the machine's BMC, and {"on": bool} after it.
func (s *Server) power(w http.ResponseWriter, r *http.Request, addr mac.Addr) {
	var req api.PowerRequest
	if err := decodeJSON(w, r, 1<<10, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	on, err := s.lab.Power(r.Context(), addr, req.Action, operatorActor)
	s.writeResult(w, r, http.StatusOK, api.PowerState{On: on}, err)
}

// reimage is POST /machines/{mac}/reimage: arm one flash of the image,
// one network boot, power on or cycle (lab.Reimage).
func (s *Server) reimage(w http.ResponseWriter, r *http.Request, addr mac.Addr) {
	var req api.Reimage
	if err := decodeJSON(w, r, 1<<10, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	snap, err := s.snapshot(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	m, err := s.lab.Reimage(r.Context(), addr, req, operatorActor, snap)
	s.writeResult(w, r, http.StatusOK, m, err)
}

// readCAs reads bmc.redfish_ca_file's PEM certificates ("" is none).
func readCAs(path string) (*x509.CertPool, error) {
	if path == "" {
		return nil, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("bmc.redfish_ca_file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("bmc.redfish_ca_file %s holds no PEM certificate", path)
	}
	return pool, nil
}

// maxParallel bounds a rack reimage's machines powered on at once.
const maxParallel = 64

// reimageRack is POST /reimage: it answers 202 with the machines it takes
// (and those it skips, with why) and reimages them in the background,
// each outcome an event (lab.ReimageRack).
func (s *Server) reimageRack(w http.ResponseWriter, r *http.Request) {
	var req api.RackReimage
	if err := decodeJSON(w, r, 1<<10, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	if req.MaxParallel == 0 {
		req.MaxParallel = 4
	}
	if req.MaxParallel < 1 || req.MaxParallel > maxParallel {
		s.fail(w, r, lab.Errorf(lab.Invalid, "max_parallel %d: want 1 to %d", req.MaxParallel, maxParallel))
		return
	}
	snap, err := s.snapshot(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	plan, err := s.lab.PlanRack(r.Context(), req.Selector, req.ImageRef, snap)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.background(func(ctx context.Context) {
		s.lab.ReimageRack(ctx, plan, req.ImageRef, req.MaxParallel, operatorActor, snap)
	})
	writeJSON(w, http.StatusAccepted, plan)
}
