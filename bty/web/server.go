// Package web is bty-web's HTTP API (docs/design.md, "bty-web"): open routes
// for PXE clients and the live environment, cookie-protected routes for the
// operator, boot files and images streamed to and from the state dir.
package web

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/bty-lab/bty/bty/api"
	"github.com/bty-lab/bty/bty/auth"
	"github.com/bty-lab/bty/bty/config"
	"github.com/bty-lab/bty/bty/lab"
	"github.com/bty-lab/bty/bty/mac"
	"github.com/bty-lab/bty/bty/state"
)

// Server serves the API over one state dir: each route decodes its
// request, calls one operation of package lab and renders the result.
type Server struct {
	cfg     config.Config
	lab     *lab.Lab
	store   *state.Store            // lab's, for what only the server keeps: sessions, the audit log's reads
	auth    atomic.Pointer[session] // replaced on logout, and from the store when shared
	limiter *auth.Limiter           // failed logins per address
	// everyone bounds failed logins from all addresses together, so many
	// addresses (a LAN's IPv6 prefix) cannot guess at five a minute each.
	everyone *auth.Limiter
	lock     *os.File // flock on the state dir, held while the server lives
	// bg is the work that outlives a request (the sweep of overdue
	// deployments, rack reimages): stopBG ends it, Close waits for it.
	bg      context.Context
	stopBG  context.CancelFunc
	bgWG    sync.WaitGroup
	log     *slog.Logger
	version string
	bootDir string
	imgDir  string
}

// cookieSecret is the setting that holds the session signing secret.
const cookieSecret = "cookie_secret"

// session is the authenticator of the current signing secret.
type session struct {
	*auth.Authenticator
	secret []byte
}

// authFor is the authenticator for a request: with a store shared by
// replicas, of the secret the store holds now, so that a logout on any
// replica ends every session on all of them, and a session made on one is
// good on the others. (One indexed read a request of the operator's; the
// machines' routes need none.)
func (s *Server) authFor(r *http.Request) *session {
	cur := s.auth.Load()
	if !s.store.Shared() {
		return cur
	}
	secret, err := s.store.Setting(r.Context(), cookieSecret, auth.NewSecret)
	if err != nil {
		s.log.Error("reading the session secret; keeping the last one read", "err", err)
		return cur
	}
	if bytes.Equal(secret, cur.secret) {
		return cur
	}
	next := &session{auth.New(s.cfg.Admin.Password, secret), secret}
	s.auth.Store(next)
	return next
}

// New opens the state dir (creating it) and returns a Server. Partial
// uploads left by a crash are removed: they were never acknowledged. A state
// dir that another bty-web holds, or that cannot be written, is refused.
func New(ctx context.Context, cfg config.Config, version string, log *slog.Logger) (s *Server, err error) {
	s = &Server{
		cfg:      cfg,
		log:      log,
		version:  version,
		bootDir:  filepath.Join(cfg.Paths.StateDir, "boot"),
		imgDir:   filepath.Join(cfg.Paths.StateDir, "images"),
		limiter:  auth.NewLimiter(5, time.Minute),
		everyone: auth.NewLimiter(maxFailedLogins, time.Minute),
	}
	for _, d := range []string{cfg.Paths.StateDir, s.bootDir, s.imgDir} {
		if err := os.MkdirAll(d, 0o750); err != nil {
			return nil, fmt.Errorf("creating state dir: %w", err)
		}
	}
	where := filepath.Join(cfg.Paths.StateDir, "state.db")
	if cfg.State.URL != "" {
		where = cfg.State.URL
	}
	store, err := state.Open(ctx, where)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			store.Close()
		}
	}()
	// A store of one bty-web's (SQLite) makes the state dir this bty-web's
	// alone: the lock comes before anything in the dir is touched, so a
	// second bty-web must not delete the first one's uploads in flight as
	// "interrupted". Replicas sharing a store (PostgreSQL) may share the
	// dir's boot files and images; an upload is theirs until it idles.
	shared := store.Shared()
	if !shared {
		lock, err := lockDir(cfg.Paths.StateDir)
		if err != nil {
			return nil, err
		}
		s.lock = lock
		defer func() {
			if err != nil {
				lock.Close()
			}
		}()
	}
	for _, d := range []string{s.bootDir, s.imgDir} {
		if err := checkWritable(d); err != nil {
			return nil, err
		}
		stale, _ := filepath.Glob(filepath.Join(d, "*.partial"))
		for _, p := range stale {
			if fi, err := os.Stat(p); shared && err == nil && time.Since(fi.ModTime()) < s.idle() {
				continue // another replica's upload, still arriving
			}
			log.Warn("removing an interrupted upload", "path", p)
			os.Remove(p)
		}
	}
	if err := seed(cfg.Paths.BootSeed, s.bootDir, log); err != nil {
		return nil, err
	}
	store.MaxEvents = cfg.Limits.MaxEvents
	// Found now, not at the first machine's boot: a database that cannot
	// be written.
	if err := store.CheckWritable(ctx); err != nil {
		return nil, err
	}
	secret, err := store.Setting(ctx, cookieSecret, auth.NewSecret)
	if err != nil {
		return nil, fmt.Errorf("reading the session secret: %w", err)
	}
	bmcKey, err := readBMCKey(cfg.BMC.KeyFile)
	if err != nil {
		return nil, err
	}
	redfishCAs, err := readCAs(cfg.BMC.RedfishCAFile)
	if err != nil {
		return nil, err
	}
	s.store = store
	s.lab = lab.New(store, lab.Config{BMCKey: bmcKey, BMC: lab.BMCConfig{
		Timeout: time.Duration(cfg.BMC.TimeoutSeconds) * time.Second, Retries: int(cfg.BMC.Retries),
		MinInterval: time.Duration(cfg.BMC.MinIntervalMS) * time.Millisecond, SoftOff: time.Duration(cfg.BMC.SoftOffSeconds) * time.Second, RedfishCAs: redfishCAs,
		Stagger: time.Duration(cfg.BMC.StaggerSeconds) * time.Second},
		Version: version, BootDir: s.bootDir, ImageDir: s.imgDir,
		MaxMachines: cfg.Limits.MaxMachines, SessionIdle: time.Duration(cfg.Limits.BootSessionSeconds) * time.Second,
		DeployTimeout: time.Duration(cfg.Deploy.TimeoutSeconds) * time.Second, MaxBootBytes: cfg.Limits.MaxBootBytes, MaxImageBytes: cfg.Limits.MaxImageBytes,
	}, log)
	s.auth.Store(&session{auth.New(cfg.Admin.Password, secret), secret})
	s.bg, s.stopBG = context.WithCancel(context.Background())
	s.background(func(ctx context.Context) { s.sweep(ctx) })
	if cfg.DefaultPasswordInUse() {
		log.Warn("THE ADMIN PASSWORD IS THE DEFAULT ('" + config.DefaultPassword + "'): anyone on this network can log in and change what machines flash. Set BTY_ADMIN_PASSWORD or [admin] password in /etc/bty/bty.toml.")
	}
	return s, nil
}

// seed copies each regular file of dir into boot unless boot has it: the
// image's iPXE binaries become boot files without overwriting an upload.
func seed(dir, boot string, log *slog.Logger) error {
	if dir == "" {
		return nil
	}
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("boot seed %s: %w", dir, err)
	}
	for _, e := range entries {
		dst := filepath.Join(boot, e.Name())
		if !e.Type().IsRegular() || lab.CheckName(e.Name()) != nil {
			continue
		}
		if _, err := os.Stat(dst); err == nil {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return fmt.Errorf("boot seed: %w", err)
		}
		if err := os.WriteFile(dst+".partial", data, 0o640); err != nil {
			return fmt.Errorf("boot seed: %w", err)
		}
		if err := os.Rename(dst+".partial", dst); err != nil {
			return fmt.Errorf("boot seed: %w", err)
		}
		log.Info("seeded a boot file", "name", e.Name(), "from", dir)
	}
	return nil
}

// lockDir takes an exclusive, non-blocking flock on dir/.lock.
func lockDir(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("locking state dir %s: %w", dir, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("state dir %s is in use by another bty-web; stop it, or give this one its own BTY_PATHS_STATE_DIR", dir)
		}
		return nil, fmt.Errorf("locking state dir %s: %w", dir, err)
	}
	return f, nil
}

// checkWritable proves that files can be created in dir.
func checkWritable(dir string) error {
	f, err := os.CreateTemp(dir, ".write-check-*")
	if err != nil {
		return fmt.Errorf("state dir %s is not writable: %w", dir, err)
	}
	f.Close()
	return os.Remove(f.Name())
}

// SetClock makes the server stamp machines and events with now's times
// (the guide's pictures show a fixed day).
func (s *Server) SetClock(now func() time.Time) { s.store.Now = now }

// Close closes the state database and releases the state dir.
func (s *Server) Close() error {
	s.stopBG()
	s.bgWG.Wait()
	err := s.store.Close()
	if s.lock != nil {
		s.lock.Close()
	}
	return err
}

// background runs fn until Close.
func (s *Server) background(fn func(ctx context.Context)) {
	s.bgWG.Add(1)
	go func() {
		defer s.bgWG.Done()
		fn(s.bg)
	}()
}

// HTTPServer returns an http.Server for the handler with the idle limits of
// the configuration: a client that sends nothing (headers, body, or a next
// request) for limits.idle_seconds is disconnected, so slow or idle clients
// cannot hold connections forever.
func (s *Server) HTTPServer(addr string) *http.Server {
	idle := s.idle()
	return &http.Server{Addr: addr, Handler: s.Handler(), ReadHeaderTimeout: idle, IdleTimeout: idle}
}

// Listen opens addr with at most limits.max_connections connections open at
// once, further clients waiting in the kernel's accept queue, and at most
// limits.max_connections_per_address of one client address.
func (s *Server) Listen(addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	return newLimitListener(ln.(*net.TCPListener), int(s.cfg.Limits.MaxConnections), int(s.cfg.Limits.MaxConnectionsPerAddress)), nil
}

func (s *Server) idle() time.Duration { return time.Duration(s.cfg.Limits.IdleSeconds) * time.Second }

// maxFailedLogins is how many failed logins a minute bty-web takes from all
// addresses together.
const maxFailedLogins = 30

// access says who may use a route.
type access int

const (
	open     access = iota // PXE clients, which carry no credentials
	liveBoot               // a machine's own token (its live boot's, or its deployment's phone-home), which package lab checks
	openPage               // the web UI's login page and its script and style
	operator               // the JSON API: the session cookie, else 401
	page                   // the web UI: the session cookie, else the login page; forms need the CSRF token
)

// route is one of bty-web's routes.
type route struct {
	pattern string
	access  access
	handler http.HandlerFunc
}

// routes is the one list of what bty-web serves; Handler serves it and
// Routes describes it.
func (s *Server) routes() []route {
	return []route{
		{"GET /healthz", open, s.healthz},
		{"GET /version", open, func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, http.StatusOK, api.Version{Version: s.version})
		}},
		{"GET /pxe-bootstrap.ipxe", open, s.bootstrap},
		{"GET /pxe/{mac}", open, s.machineRoute(s.pxeScript)},
		{"GET /pxe/{mac}/grub", open, s.machineRoute(s.grubScript)},
		{"GET /pxe/{mac}/plan", liveBoot, s.machineRoute(s.plan)},
		{"POST /pxe/{mac}/status", liveBoot, s.machineRoute(s.status)},
		{"POST /pxe/{mac}/inventory", liveBoot, s.machineRoute(s.inventory)},
		{"GET /pxe/{mac}/cloud-init", liveBoot, s.machineRoute(s.seed)},
		{"POST /pxe/{mac}/deployed", liveBoot, s.machineRoute(s.phoneHome)},
		{"GET /boot/{name}", open, s.getBoot},
		{"GET /images", open, s.listImages},
		{"GET /images/{ref}/{name}", open, s.getImage},
		{"GET /catalog.toml", open, s.catalogTOML},
		{"POST /ui/login", open, s.login},
		{"POST /ui/logout", operator, s.logout},
		{"PUT /boot/{name}", operator, s.putBoot},
		{"PUT /images/{name}", operator, s.putImage},
		{"DELETE /images/{name}", operator, s.deleteImage},
		{"POST /catalog/entries", operator, s.addEntry},
		{"GET /machines", operator, s.listMachines},
		{"GET /machines/{mac}", operator, s.machineRoute(s.getMachine)},
		{"PUT /machines/{mac}", operator, s.machineRoute(s.putMachine)},
		{"DELETE /machines/{mac}", operator, s.machineRoute(s.deleteMachine)},
		{"PUT /machines/{mac}/bmc", operator, s.machineRoute(s.putBMC)},
		{"POST /machines/{mac}/power", operator, s.machineRoute(s.power)},
		{"POST /machines/{mac}/reimage", operator, s.machineRoute(s.reimage)},
		{"POST /reimage", operator, s.reimageRack},
		{"GET /events", operator, s.events},
		{"GET /templates", operator, s.getTemplates},
		{"PUT /templates", operator, s.putTemplates},
		{"GET /{$}", openPage, s.uiHome},
		{"GET /ui/login", openPage, s.uiLogin},
		{"GET /ui/static/{name}", openPage, s.uiStatic},
		{"GET /ui/{$}", page, s.uiHome},
		{"GET /ui/machines", page, s.uiMachines},
		{"GET /ui/machines/{mac}", page, s.machineRoute(s.uiMachine)},
		{"POST /ui/machines/{mac}", page, s.machineRoute(s.uiSaveMachine)},
		{"POST /ui/machines/{mac}/delete", page, s.machineRoute(s.uiDeleteMachine)},
		{"POST /ui/machines/{mac}/bmc", page, s.machineRoute(s.uiSaveBMC)},
		{"POST /ui/machines/{mac}/power", page, s.machineRoute(s.uiPower)},
		{"POST /ui/machines/{mac}/reimage", page, s.machineRoute(s.uiReimage)},
		{"POST /ui/reimage", page, s.uiReimageRack},
		{"GET /ui/images", page, s.uiImages},
		{"POST /ui/images/{name}/delete", page, s.uiDeleteImage},
		{"POST /ui/catalog", page, s.uiAddEntry},
		{"GET /ui/setup", page, s.uiSetup},
		{"GET /ui/templates", page, s.uiTemplates},
		{"POST /ui/templates", page, s.uiSaveTemplates},
	}
}

// Handler returns the routes.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	for _, r := range s.routes() {
		if r.access == open || r.access == liveBoot || r.access == openPage {
			mux.HandleFunc(r.pattern, r.handler)
		} else {
			mux.Handle(r.pattern, s.protect(r.handler, r.access))
		}
	}
	return s.logRequests(mux)
}

// Route describes one route bty-web serves, for its documentation.
type Route struct {
	Pattern string // "METHOD /path", as http.ServeMux takes it
	Open    bool   // served without the session cookie
	Token   bool   // needs the machine's live boot's token instead
	Page    bool   // part of the web UI (HTML), not the JSON API
}

// Routes lists every route bty-web serves, in the order it registers them.
func Routes() []Route {
	var out []Route
	for _, r := range (&Server{}).routes() {
		out = append(out, Route{r.pattern, r.access == open || r.access == liveBoot || r.access == openPage, r.access == liveBoot, r.access == page || r.access == openPage})
	}
	return out
}

// healthz answers 503 when the state cannot be written (a full disk, a
// read-only database), which is when PXE boots stop being recorded.
func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	if err := s.store.CheckWritable(r.Context()); err != nil {
		writeJSON(w, http.StatusServiceUnavailable, api.Health{Status: "error", Error: err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, api.Health{Status: "ok"})
}

func (s *Server) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// A request body must arrive without idling; uploads extend this as
		// bytes arrive (see upload). Requests without a body get no read
		// deadline: it would also fire under a long download (a slow PXE
		// client fetching an image) and cancel the request's context.
		if r.ContentLength != 0 {
			http.NewResponseController(w).SetReadDeadline(time.Now().Add(s.idle()))
		}
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK, rc: http.NewResponseController(w), idle: s.idle()}
		next.ServeHTTP(rec, r)
		// What net/http flushes after the handler must also move.
		rec.rc.SetWriteDeadline(time.Now().Add(s.idle()))
		s.log.Debug("request", "method", r.Method, "path", r.URL.Path, "status", rec.status, "remote", clientAddr(r), "duration", time.Since(start))
	})
}

// statusRecorder notes a response's status, and keeps it moving: each
// write must make progress within limits.idle_seconds, or the connection
// is cut. A client that asks for a large file and never reads it would
// otherwise hold its connection, one of limits.max_connections, forever;
// a slow client that keeps reading is never cut.
type statusRecorder struct {
	http.ResponseWriter
	status int
	rc     *http.ResponseController
	idle   time.Duration
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(p []byte) (int, error) {
	r.rc.SetWriteDeadline(time.Now().Add(r.idle))
	return r.ResponseWriter.Write(p)
}

// sendChunk is how much of a file one write deadline covers: a client
// must take this much every limits.idle_seconds (4 KiB/s at the default
// 60 s) or lose its connection.
const sendChunk = 256 << 10

// ReadFrom hands a body read from a file to the response's own ReadFrom,
// which sends it with sendfile(2); without this the recorder would hide it
// and every boot file and image would be copied through a user-space
// buffer (measured by the fleet bench: 0.54 of nginx's throughput). It
// sends sendChunk at a time, each with a new write deadline. The file is
// handed on as the *os.File (in an io.LimitedReader, which sendfile
// unwraps once): a range's own io.LimitedReader is unwrapped here.
func (r *statusRecorder) ReadFrom(src io.Reader) (int64, error) {
	rf, ok := r.ResponseWriter.(io.ReaderFrom)
	if !ok {
		return io.Copy(struct{ io.Writer }{r}, src)
	}
	inner, left := src, int64(-1)
	if lr, ok := src.(*io.LimitedReader); ok {
		inner, left = lr.R, lr.N
	}
	var total int64
	defer func() {
		if lr, ok := src.(*io.LimitedReader); ok {
			lr.N = left - total
		}
	}()
	for left < 0 || total < left {
		chunk := int64(sendChunk)
		if left >= 0 {
			chunk = min(chunk, left-total)
		}
		r.rc.SetWriteDeadline(time.Now().Add(r.idle))
		n, err := rf.ReadFrom(&io.LimitedReader{R: inner, N: chunk})
		total += n
		if err != nil || n < chunk {
			return total, err
		}
	}
	return total, nil
}

// Unwrap lets http.ResponseController reach the real writer.
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// writeResult answers an operation: its error, or status with v as JSON
// (no body for 204).
func (s *Server) writeResult(w http.ResponseWriter, r *http.Request, status int, v any, err error) {
	switch {
	case err != nil:
		s.fail(w, r, err)
	case status == http.StatusNoContent:
		w.WriteHeader(status)
	default:
		writeJSON(w, status, v)
	}
}

// statusError is a refusal of the HTTP layer itself (a session, a content
// type, the login limit), with its status.
type statusError struct {
	status int
	msg    string
}

func (e *statusError) Error() string { return e.msg }

func httpError(status int, format string, args ...any) error {
	return &statusError{status, fmt.Sprintf(format, args...)}
}

// kindStatus is the HTTP status of each kind of an operation's refusal.
var kindStatus = map[lab.Kind]int{
	lab.Malformed: http.StatusBadRequest,
	lab.Invalid:   http.StatusUnprocessableEntity,
	lab.NotFound:  http.StatusNotFound,
	lab.Conflict:  http.StatusConflict,
	lab.TooLarge:  http.StatusRequestEntityTooLarge,
	lab.Full:      http.StatusInsufficientStorage,
	lab.Forbidden: http.StatusForbidden,
	lab.Upstream:  http.StatusBadGateway,
}

// statusOf is the one map from an error to the HTTP status it answers:
// the HTTP layer's own, else its lab.Kind's.
func statusOf(err error) int {
	var se *statusError
	if errors.As(err, &se) {
		return se.status
	}
	if status, ok := kindStatus[lab.KindOf(err)]; ok {
		return status
	}
	return http.StatusInternalServerError
}

// fail is the one way an error is answered: its status (statusOf) and its
// message, as the error page (the login page for 401) to a browser
// showing pages, else as JSON (api.Error).
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	status := statusOf(err)
	if status >= 500 {
		s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "status", status, "err", err)
		// The server's own failures (its database: user, host, schema)
		// are the operator's to read, in the log or logged in, not any
		// client's on the network.
		if !s.loggedIn(r) {
			err = errors.New("bty-web cannot answer this now; its operator finds why in its log")
		}
	}
	if wantsHTML(r) {
		if status == http.StatusUnauthorized {
			s.render(w, r, status, "login", &loginPage{layout: layout{Title: "Log in", Error: err.Error()}})
			return
		}
		s.render(w, r, status, "error", &errorPage{layout: layout{Title: "Refused", Error: err.Error()}})
		return
	}
	writeJSON(w, status, api.Error{Error: err.Error()})
}

// protect admits requests with a valid session cookie that come from no
// other web origin: a browser sends the cookie only to same-site requests
// (SameSite=Strict), and a cross-site page's request carries an Origin.
// A form body must also carry the session's CSRF token (field csrf):
// forms are what another site can post. The web UI's actions are forms
// and nothing else. Without a session, a page sends the browser to the
// login page; the API answers 401.
func (s *Server) protect(h http.HandlerFunc, acc access) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var token string
		if c, err := r.Cookie(auth.CookieName); err == nil {
			token = c.Value
		}
		a := s.authFor(r)
		refuse := func(status int, format string, args ...any) { s.fail(w, r, httpError(status, format, args...)) }
		if err := a.Verify(token); err != nil {
			if acc == page && r.Method == http.MethodGet {
				http.Redirect(w, r, "/ui/login", http.StatusSeeOther)
				return
			}
			refuse(http.StatusUnauthorized, "%v: POST /ui/login with the admin password", err)
			return
		}
		if origin := r.Header.Get("Origin"); origin != "" && !s.sameOrigin(r, origin) {
			refuse(http.StatusForbidden, "cross-origin request from %q refused", origin)
			return
		}
		if acc == page && r.Method != http.MethodGet && !isForm(r) {
			refuse(http.StatusUnsupportedMediaType, "the web UI's actions take only its own forms")
			return
		}
		// A text body is what another site's page can send without asking;
		// no route of the API takes one (uploads send bytes as they are,
		// with no or a binary content type).
		if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt == "text/plain" && r.Method != http.MethodGet && r.Method != http.MethodHead {
			refuse(http.StatusUnsupportedMediaType, "Content-Type %q refused; send JSON (application/json) or the bytes of a file", mt)
			return
		}
		if isForm(r) {
			r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
			if err := r.ParseForm(); err != nil {
				s.fail(w, r, lab.Errorf(lab.Malformed, "malformed form: %v", err))
				return
			}
			if !a.CheckCSRF(token, r.PostFormValue("csrf")) {
				refuse(http.StatusForbidden, "the form's CSRF token is missing or not this session's; reload the page and try again")
				return
			}
		}
		h(w, r)
	})
}

// loggedIn reports whether r carries a valid session cookie.
func (s *Server) loggedIn(r *http.Request) bool {
	c, err := r.Cookie(auth.CookieName)
	return err == nil && s.authFor(r).Verify(c.Value) == nil
}

// sameOrigin reports whether origin is this server as the client reached it.
func (s *Server) sameOrigin(r *http.Request, origin string) bool {
	u, err := url.Parse(origin)
	if err != nil {
		return false
	}
	if u.Host == r.Host {
		return true
	}
	if p, err := url.Parse(s.cfg.Server.PublicURL); err == nil && s.cfg.Server.PublicURL != "" {
		return u.Scheme == p.Scheme && u.Host == p.Host
	}
	return false
}

func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

var hostPattern = regexp.MustCompile(`^[A-Za-z0-9.\-]+(:[0-9]{1,5})?$|^\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?$`)

// base is the URL clients reach this server at: the configured public URL,
// or the Host the client used (which iPXE sets from the URL it chained).
func (s *Server) base(r *http.Request) (string, error) {
	if s.cfg.Server.PublicURL != "" {
		return strings.TrimSuffix(s.cfg.Server.PublicURL, "/"), nil
	}
	if !hostPattern.MatchString(r.Host) {
		return "", lab.Errorf(lab.Malformed, "bad Host header %q", r.Host)
	}
	return "http://" + r.Host, nil
}

// machineRoute adapts the handler of a route for one machine: the
// route's {mac} parsed, a malformed one answered.
func (s *Server) machineRoute(h func(http.ResponseWriter, *http.Request, mac.Addr)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		addr, err := mac.Parse(r.PathValue("mac"))
		if err != nil {
			s.fail(w, r, lab.Errorf(lab.Malformed, "%v", err))
			return
		}
		h(w, r, addr)
	}
}

// simpleTypes are the content types a cross-site HTML form or no-cors fetch
// may send; a JSON route refuses them, so no other site can post to it.
var simpleTypes = []string{"text/plain", "application/x-www-form-urlencoded", "multipart/form-data"}

// decodeJSON reads a bounded JSON body strictly: a form or text content
// type → 415, malformed → 400, unknown fields or wrong types → 422, too
// large → 413.
func decodeJSON(w http.ResponseWriter, r *http.Request, limit int64, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, _ := mime.ParseMediaType(ct)
		if mt == "" || slices.Contains(simpleTypes, mt) {
			return httpError(http.StatusUnsupportedMediaType, "Content-Type %q refused; send application/json", ct)
		}
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, limit))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil && dec.More() {
		err = errors.New("trailing data after the JSON value")
	}
	var maxErr *http.MaxBytesError
	var typeErr *json.UnmarshalTypeError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &maxErr):
		return lab.Errorf(lab.TooLarge, "body larger than %d bytes", limit)
	case errors.As(err, &typeErr), strings.HasPrefix(err.Error(), "json: unknown field"):
		return lab.Errorf(lab.Invalid, "%v", err)
	case errors.Is(err, io.EOF):
		return lab.Errorf(lab.Malformed, "empty body; want JSON")
	}
	return lab.Errorf(lab.Malformed, "malformed JSON: %v", err)
}
