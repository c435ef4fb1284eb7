package web

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/bty-lab/bty/bty/auth"
	"github.com/bty-lab/bty/bty/lab"
	"github.com/bty-lab/bty/bty/mac"
	"github.com/bty-lab/bty/bty/provision"
	"github.com/bty-lab/bty/bty/state"
)

// operatorActor is who the audit log names for the operator's changes
// (there is one operator account).
const operatorActor = "admin"

func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	addr := clientAddr(r)
	// Another site's page may not post here: it would spend the
	// operator's attempts (and lock them out) from their own browser.
	if origin := r.Header.Get("Origin"); origin != "" && !s.sameOrigin(r, origin) {
		s.fail(w, r, httpError(http.StatusForbidden, "a login from another site's page (%q) is refused", origin))
		return
	}
	// Refused before the password is read, and answered at once: the
	// connection closes instead of waiting for a body nobody checks.
	refuse := func(from string, l *auth.Limiter, wait time.Duration) {
		w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds())+1))
		w.Header().Set("Connection", "close")
		s.fail(w, r, httpError(http.StatusTooManyRequests, "too many failed logins from %s (limit %s); retry in %s", from, l, wait.Round(time.Second)))
	}
	if ok, wait := s.limiter.Reserve(addr); !ok {
		refuse(addr, s.limiter, wait)
		return
	}
	if ok, wait := s.everyone.Reserve(""); !ok {
		s.limiter.Release(addr)
		refuse("all addresses", s.everyone, wait)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
	if err := r.ParseForm(); err != nil {
		s.fail(w, r, lab.Errorf(lab.Malformed, "malformed form: %v", err))
		return
	}
	a := s.authFor(r)
	if !a.CheckPassword(r.PostFormValue("password")) {
		s.store.Log(r.Context(), state.EventLoginFailed, "", addr, struct{}{})
		s.log.Warn("failed login", "remote", addr)
		if wantsHTML(r) {
			s.render(w, r, http.StatusUnauthorized, "login", &loginPage{layout: layout{Title: "Log in", Error: "Wrong password."}})
			return
		}
		s.fail(w, r, httpError(http.StatusUnauthorized, "wrong password"))
		return
	}
	s.limiter.Release(addr)
	s.everyone.Release("")
	token, exp, err := a.Issue()
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.store.Log(r.Context(), state.EventLogin, "", addr, struct{}{})
	http.SetCookie(w, &http.Cookie{
		Name: auth.CookieName, Value: token, Path: "/", Expires: exp,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: s.secureCookie(),
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
		s.fail(w, r, lab.Errorf(lab.Internal, "replacing the session secret: %w", err))
		return
	}
	s.auth.Store(&session{auth.New(s.cfg.Admin.Password, secret), secret})
	s.store.Log(r.Context(), state.EventLogout, "", clientAddr(r), struct{}{})
	http.SetCookie(w, &http.Cookie{Name: auth.CookieName, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: s.secureCookie()})
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
		err = lab.Errorf(lab.Internal, "reading the machines: %w", err)
	}
	s.writeResult(w, r, http.StatusOK, ms, err)
}

func (s *Server) getMachine(w http.ResponseWriter, r *http.Request, addr mac.Addr) {
	m, err := s.lab.Machine(r.Context(), addr)
	s.writeResult(w, r, http.StatusOK, m, err)
}

// putMachine replaces a machine's settings (provision.Settings, the whole
// of them: a missing field is its zero value).
func (s *Server) putMachine(w http.ResponseWriter, r *http.Request, addr mac.Addr) {
	var set provision.Settings
	if err := decodeJSON(w, r, 64<<10, &set); err != nil {
		s.fail(w, r, err)
		return
	}
	m, err := s.lab.SaveMachine(r.Context(), addr, set, operatorActor)
	s.writeResult(w, r, http.StatusOK, m, err)
}

func (s *Server) deleteMachine(w http.ResponseWriter, r *http.Request, addr mac.Addr) {
	err := s.lab.DeleteMachine(r.Context(), addr, operatorActor)
	s.writeResult(w, r, http.StatusNoContent, nil, err)
}

func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	after, _ := strconv.ParseInt(r.URL.Query().Get("after"), 10, 64)
	limit, err := strconv.Atoi(r.URL.Query().Get("limit"))
	if err != nil || limit <= 0 || limit > 10000 {
		limit = 1000
	}
	ev, err := s.store.Events(r.Context(), after, limit)
	if err != nil {
		err = lab.Errorf(lab.Internal, "reading the events: %w", err)
	}
	s.writeResult(w, r, http.StatusOK, ev, err)
}

// secureCookie reports whether the session cookie is sent over HTTPS only:
// when operators reach bty-web through an https public URL (a TLS proxy
// in front of it), the cookie must never travel in clear.
func (s *Server) secureCookie() bool {
	return strings.HasPrefix(s.cfg.Server.PublicURL, "https://")
}
