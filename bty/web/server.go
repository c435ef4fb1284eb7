// Package web is bty-web's HTTP API (spec: "bty-web HTTP API"): open routes
// for PXE clients and the live environment, cookie-protected routes for the
// operator, boot files and images streamed to and from the state dir.
package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/bty-lab/bty/bty/auth"
	"github.com/bty-lab/bty/bty/config"
	"github.com/bty-lab/bty/bty/mac"
	"github.com/bty-lab/bty/bty/pxescript"
	"github.com/bty-lab/bty/bty/state"
)

// Server serves the API over one state dir.
type Server struct {
	cfg     config.Config
	store   *state.Store
	auth    *auth.Authenticator
	limiter *auth.Limiter
	log     *slog.Logger
	version string
	netboot pxescript.Netboot
	bootDir string
	imgDir  string
}

// New opens the state dir (creating it) and returns a Server. Partial
// uploads left by a crash are removed: they were never acknowledged.
func New(ctx context.Context, cfg config.Config, version string, log *slog.Logger) (*Server, error) {
	s := &Server{
		cfg:     cfg,
		log:     log,
		version: version,
		netboot: pxescript.NetbootFor(version),
		bootDir: filepath.Join(cfg.Paths.StateDir, "boot"),
		imgDir:  filepath.Join(cfg.Paths.StateDir, "images"),
		limiter: auth.NewLimiter(5, time.Minute),
	}
	for _, d := range []string{cfg.Paths.StateDir, s.bootDir, s.imgDir} {
		if err := os.MkdirAll(d, 0o750); err != nil {
			return nil, fmt.Errorf("creating state dir: %w", err)
		}
	}
	for _, d := range []string{s.bootDir, s.imgDir} {
		stale, _ := filepath.Glob(filepath.Join(d, "*.partial"))
		for _, p := range stale {
			log.Warn("removing an interrupted upload", "path", p)
			os.Remove(p)
		}
	}
	if err := seed(cfg.Paths.BootSeed, s.bootDir, log); err != nil {
		return nil, err
	}
	store, err := state.Open(ctx, filepath.Join(cfg.Paths.StateDir, "state.db"))
	if err != nil {
		return nil, err
	}
	secret, err := store.Setting(ctx, "cookie_secret", auth.NewSecret)
	if err != nil {
		store.Close()
		return nil, fmt.Errorf("reading the session secret: %w", err)
	}
	s.store = store
	s.auth = auth.New(cfg.Admin.Password, secret)
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
		if !e.Type().IsRegular() || !bareName.MatchString(e.Name()) {
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

// Close closes the state database.
func (s *Server) Close() error { return s.store.Close() }

// Handler returns the routes.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /version", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"version": s.version})
	})
	mux.HandleFunc("GET /pxe-bootstrap.ipxe", s.bootstrap)
	mux.HandleFunc("GET /pxe/{mac}", s.pxeScript)
	mux.HandleFunc("GET /pxe/{mac}/plan", s.plan)
	mux.HandleFunc("POST /pxe/{mac}/status", s.status)
	mux.HandleFunc("POST /pxe/{mac}/inventory", s.inventory)
	mux.HandleFunc("GET /boot/{name}", s.getBoot)
	mux.HandleFunc("GET /images", s.listImages)
	mux.HandleFunc("GET /images/{ref}/{name}", s.getImage)
	mux.HandleFunc("GET /catalog.toml", s.catalogTOML)
	mux.HandleFunc("POST /ui/login", s.login)

	mux.Handle("PUT /boot/{name}", s.protect(s.putBoot))
	mux.Handle("PUT /images/{name}", s.protect(s.putImage))
	mux.Handle("DELETE /images/{name}", s.protect(s.deleteImage))
	mux.Handle("POST /catalog/entries", s.protect(s.addEntry))
	mux.Handle("GET /machines", s.protect(s.listMachines))
	mux.Handle("GET /machines/{mac}", s.protect(s.getMachine))
	mux.Handle("PUT /machines/{mac}", s.protect(s.putMachine))
	mux.Handle("DELETE /machines/{mac}", s.protect(s.deleteMachine))
	mux.Handle("GET /events", s.protect(s.events))
	return s.logRequests(mux)
}

func (s *Server) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(rec, r)
		s.log.Debug("request", "method", r.Method, "path", r.URL.Path, "status", rec.status, "remote", clientAddr(r), "duration", time.Since(start))
	})
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the real writer.
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, format string, args ...any) {
	writeJSON(w, status, map[string]string{"error": fmt.Sprintf(format, args...)})
}

// protect admits requests with a valid session cookie.
func (s *Server) protect(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var token string
		if c, err := r.Cookie(auth.CookieName); err == nil {
			token = c.Value
		}
		if err := s.auth.Verify(token); err != nil {
			writeError(w, http.StatusUnauthorized, "%v: POST /ui/login with the admin password", err)
			return
		}
		h(w, r)
	})
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
		return "", fmt.Errorf("bad Host header %q", r.Host)
	}
	return "http://" + r.Host, nil
}

func (s *Server) macParam(w http.ResponseWriter, r *http.Request) (mac.Addr, bool) {
	addr, err := mac.Parse(r.PathValue("mac"))
	if err != nil {
		writeError(w, http.StatusBadRequest, "%v", err)
		return "", false
	}
	return addr, true
}

// decodeJSON reads a bounded JSON body strictly: malformed → 400, unknown
// fields or wrong types → 422, too large → 413. It reports whether to go on.
func decodeJSON(w http.ResponseWriter, r *http.Request, limit int64, v any) bool {
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
		return true
	case errors.As(err, &maxErr):
		writeError(w, http.StatusRequestEntityTooLarge, "body larger than %d bytes", limit)
	case errors.As(err, &typeErr), strings.HasPrefix(err.Error(), "json: unknown field"):
		writeError(w, http.StatusUnprocessableEntity, "%v", err)
	case errors.Is(err, io.EOF):
		writeError(w, http.StatusBadRequest, "empty body; want JSON")
	default:
		writeError(w, http.StatusBadRequest, "malformed JSON: %v", err)
	}
	return false
}
