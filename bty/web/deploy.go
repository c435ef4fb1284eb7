package web

import (
	"context"
	"net/http"
	"time"

	"github.com/bty-lab/bty/bty/api"
	"github.com/bty-lab/bty/bty/lab"
	"github.com/bty-lab/bty/bty/mac"
)

// Deployments: the seed a machine's flasher writes, the installed system's
// phone-home, and the operator's templates (docs/design.md, "Deployments").

// seed is GET /pxe/{mac}/cloud-init: the NoCloud files of the machine's
// deployment, for its live boot.
func (s *Server) seed(w http.ResponseWriter, r *http.Request, addr mac.Addr) {
	snap, err := s.snapshot(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	files, ok, err := s.lab.Seed(r.Context(), addr, bootToken(r), snap)
	s.writeResult(w, r, http.StatusOK, api.Seed{Enabled: ok, MetaData: files.MetaData, UserData: files.UserData, NetworkConfig: files.NetworkConfig}, err)
}

// phoneHome is POST /pxe/{mac}/deployed?token=...: cloud-init's phone_home
// module posts a form (instance_id, hostname, the SSH host keys).
func (s *Server) phoneHome(w http.ResponseWriter, r *http.Request, addr mac.Addr) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		s.fail(w, r, lab.Errorf(lab.Malformed, "phone-home form: %v", err))
		return
	}
	s.writeResult(w, r, http.StatusNoContent, nil, s.lab.PhoneHome(r.Context(), addr, r.URL.Query().Get("token"), r.PostForm, clientAddr(r)))
}

func (s *Server) getTemplates(w http.ResponseWriter, r *http.Request) {
	t, err := s.lab.Templates(r.Context())
	s.writeResult(w, r, http.StatusOK, t, err)
}

func (s *Server) putTemplates(w http.ResponseWriter, r *http.Request) {
	var t api.Templates
	if err := decodeJSON(w, r, 1<<20, &t); err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.lab.SaveTemplates(r.Context(), t, operatorActor); err != nil {
		s.fail(w, r, err)
		return
	}
	s.getTemplates(w, r)
}

// sweepEvery is how often overdue deployments are marked failed.
const sweepEvery = 2 * time.Second

// sweep marks overdue deployments failed until ctx ends (Close).
func (s *Server) sweep(ctx context.Context) {
	t := time.NewTicker(sweepEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := s.lab.Sweep(ctx); err != nil && ctx.Err() == nil {
			s.log.Error("marking overdue deployments failed", "err", err)
		}
	}
}
