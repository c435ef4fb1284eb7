package web

import (
	"net/http"
	"strconv"
	"time"

	"github.com/bty-lab/bty/bty/auth"
	"github.com/bty-lab/bty/bty/catalog"
	"github.com/bty-lab/bty/bty/provision"
	"github.com/bty-lab/bty/bty/state"
)

func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	addr := clientAddr(r)
	if ok, wait := s.limiter.Reserve(addr); !ok {
		w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds())+1))
		writeError(w, http.StatusTooManyRequests, "too many failed logins from %s (limit %s); retry in %s", addr, s.limiter, wait.Round(time.Second))
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
	if err := r.ParseForm(); err != nil {
		writeError(w, http.StatusBadRequest, "malformed form: %v", err)
		return
	}
	a := s.auth.Load()
	if !a.CheckPassword(r.PostFormValue("password")) {
		s.store.Log(r.Context(), "login.failed", "", addr, struct{}{})
		s.log.Warn("failed login", "remote", addr)
		writeError(w, http.StatusUnauthorized, "wrong password")
		return
	}
	s.limiter.Release(addr)
	token, exp, err := a.Issue()
	if err != nil {
		writeError(w, http.StatusInternalServerError, "%v", err)
		return
	}
	s.store.Log(r.Context(), "login", "", addr, struct{}{})
	http.SetCookie(w, &http.Cookie{
		Name: auth.CookieName, Value: token, Path: "/", Expires: exp,
		HttpOnly: true, SameSite: http.SameSiteStrictMode,
	})
	http.Redirect(w, r, "/machines", http.StatusSeeOther)
}

// logout ends every session: the signing secret is replaced, so no cookie
// issued before verifies any more (there is one operator account), and the
// caller's cookie is cleared.
func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	secret, err := auth.NewSecret()
	if err == nil {
		err = s.store.SetSetting(r.Context(), cookieSecret, secret)
	}
	if err != nil {
		writeError(w, http.StatusInternalServerError, "replacing the session secret: %v", err)
		return
	}
	s.auth.Store(auth.New(s.cfg.Admin.Password, secret))
	s.store.Log(r.Context(), "logout", "", clientAddr(r), struct{}{})
	http.SetCookie(w, &http.Cookie{Name: auth.CookieName, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteStrictMode})
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) listMachines(w http.ResponseWriter, r *http.Request) {
	ms, err := s.store.Machines(r.Context())
	if err != nil {
		writeError(w, http.StatusInternalServerError, "%v", err)
		return
	}
	writeJSON(w, http.StatusOK, ms)
}

func (s *Server) getMachine(w http.ResponseWriter, r *http.Request) {
	if m, ok := s.machine(w, r); ok {
		writeJSON(w, http.StatusOK, m)
	}
}

func (s *Server) putMachine(w http.ResponseWriter, r *http.Request) {
	addr, ok := s.macParam(w, r)
	if !ok {
		return
	}
	var in struct {
		ImageRef         *string           `json:"bty_image_ref"`
		BootMode         *string           `json:"boot_mode"`
		TargetDiskSerial *string           `json:"target_disk_serial"`
		Labels           map[string]string `json:"labels"`
	}
	if !decodeJSON(w, r, 64<<10, &in) {
		return
	}
	if in.BootMode == nil {
		writeError(w, http.StatusUnprocessableEntity, "boot_mode is required (PUT replaces the whole machine)")
		return
	}
	mode, err := provision.ParseMode(*in.BootMode)
	if err != nil {
		writeError(w, http.StatusUnprocessableEntity, "%v", err)
		return
	}
	set := provision.Settings{BootMode: mode, Labels: in.Labels}
	if in.ImageRef != nil {
		set.ImageRef = *in.ImageRef
	}
	if in.TargetDiskSerial != nil {
		set.TargetDiskSerial = *in.TargetDiskSerial
	}
	if set.ImageRef != "" && !catalog.IsSHA256(set.ImageRef) {
		writeError(w, http.StatusUnprocessableEntity, "bty_image_ref %q: want the 64-hex ref of an image (GET /images)", set.ImageRef)
		return
	}
	if len(set.TargetDiskSerial) > 128 {
		writeError(w, http.StatusUnprocessableEntity, "target_disk_serial longer than 128 characters")
		return
	}
	m, err := s.store.Update(r.Context(), addr, func(m provision.Machine, exists bool) (state.Change, error) {
		if !exists {
			m = provision.New(addr)
		}
		next := m.Save(set)
		return state.Change{Machine: &next, Kind: "machine.saved", Actor: "admin", Detail: set}, nil
	})
	if err != nil {
		writeError(w, http.StatusInternalServerError, "%v", err)
		return
	}
	writeJSON(w, http.StatusOK, m)
}

func (s *Server) deleteMachine(w http.ResponseWriter, r *http.Request) {
	addr, ok := s.macParam(w, r)
	if !ok {
		return
	}
	writeNoContent(w, s.store.DeleteMachine(r.Context(), addr, "admin"), addr)
}

func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	after, _ := strconv.ParseInt(r.URL.Query().Get("after"), 10, 64)
	limit, err := strconv.Atoi(r.URL.Query().Get("limit"))
	if err != nil || limit <= 0 || limit > 10000 {
		limit = 1000
	}
	ev, err := s.store.Events(r.Context(), after, limit)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "%v", err)
		return
	}
	writeJSON(w, http.StatusOK, ev)
}
