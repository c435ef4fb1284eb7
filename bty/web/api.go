package web

import (
	"net/http"
	"strconv"
	"time"

	"github.com/bty-lab/bty/bty/auth"
	"github.com/bty-lab/bty/bty/catalog"
	"github.com/bty-lab/bty/bty/mac"
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
		if wantsHTML(r) {
			s.render(w, r, http.StatusUnauthorized, "login", view{Title: "Log in", Error: "Wrong password."})
			return
		}
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
	http.Redirect(w, r, "/ui/machines", http.StatusSeeOther)
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
	if isForm(r) {
		// The web UI's button: back to the login page.
		http.Redirect(w, r, "/ui/login?bye", http.StatusSeeOther)
		return
	}
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
	m, err := s.saveMachine(r, addr, *in.BootMode, deref(in.ImageRef), deref(in.TargetDiskSerial), in.Labels)
	if err != nil {
		writeOpError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, m)
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// saveMachine is the operator's full replacement of a machine's settings,
// for the API and the web UI alike: it checks them and stores them with
// their event (the rules of provision.Machine.Save).
func (s *Server) saveMachine(r *http.Request, addr mac.Addr, mode, ref, serial string, labels map[string]string) (provision.Machine, error) {
	bootMode, err := provision.ParseMode(mode)
	if err != nil {
		return provision.Machine{}, fail(http.StatusUnprocessableEntity, "%v", err)
	}
	set := provision.Settings{BootMode: bootMode, ImageRef: ref, TargetDiskSerial: serial, Labels: labels}
	if set.ImageRef != "" && !catalog.IsSHA256(set.ImageRef) {
		return provision.Machine{}, fail(http.StatusUnprocessableEntity, "bty_image_ref %q: want the 64-hex ref of an image (GET /images)", set.ImageRef)
	}
	if len(set.TargetDiskSerial) > 128 {
		return provision.Machine{}, fail(http.StatusUnprocessableEntity, "target_disk_serial longer than 128 characters")
	}
	return s.store.Update(r.Context(), addr, func(m provision.Machine, exists bool) (state.Change, error) {
		if !exists {
			m = provision.New(addr)
		}
		next := m.Save(set)
		return state.Change{Machine: &next, Kind: "machine.saved", Actor: "admin", Detail: set}, nil
	})
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
