// Package config loads bty-web's settings in layers, lowest first: built-in
// defaults, /etc/bty/bty.toml, <state_dir>/bty.toml, then environment
// variables BTY_<SECTION>_<KEY> (BTY_ADMIN_PASSWORD, BTY_SERVER_PORT, ...).
//
// Files are strict: an unknown key or a wrong type is an error naming the
// file and the key, never a silently ignored setting.
package config

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"
)

// DefaultPassword is the admin password until the operator sets one.
const DefaultPassword = "bty-lab"

// Config is bty-web's configuration.
type Config struct {
	Server Server `toml:"server"`
	Admin  Admin  `toml:"admin"`
	Paths  Paths  `toml:"paths"`
	State  State  `toml:"state"`
	Limits Limits `toml:"limits"`
	Deploy Deploy `toml:"deploy"`
	BMC    BMC    `toml:"bmc"`
}

// BMC says where the key that seals BMC passwords is.
type BMC struct {
	// KeyFile holds the key that encrypts machines' BMC passwords in the
	// state (32 bytes, or 64 hex digits), kept outside the database so a
	// copy of it alone reveals none; the file must be the owner's alone.
	// "" refuses BMC passwords.
	KeyFile string `toml:"key_file"`
	// TimeoutSeconds bounds each exchange with a BMC, Retries the resends
	// of an unanswered one; MinIntervalMS keeps that long between two
	// sessions with one BMC (many refuse a burst); SoftOffSeconds is how
	// long a soft power-off may take before the power is cut.
	TimeoutSeconds int64 `toml:"timeout_seconds"`
	Retries        int64 `toml:"retries"`
	MinIntervalMS  int64 `toml:"min_interval_ms"`
	SoftOffSeconds int64 `toml:"soft_off_seconds"`
	// RedfishCAFile holds the PEM certificates that Redfish services'
	// certificates must chain to; "" accepts any (most BMCs ship a
	// self-signed one).
	RedfishCAFile string `toml:"redfish_ca_file"`
	// StaggerSeconds is the wait between two waves of a rack reimage.
	StaggerSeconds int64 `toml:"stagger_seconds"`
}

// Deploy says how deployments are followed through.
type Deploy struct {
	// TimeoutSeconds is how long after a verified flash that wrote the
	// cloud-init seed its installed system has to phone home before the
	// deployment is marked failed.
	TimeoutSeconds int64 `toml:"timeout_seconds"`
}

// State says where machines, images and events are kept.
type State struct {
	// URL, if set, is a PostgreSQL server (postgres://...) that several
	// bty-web replicas share; else state.db in the state dir (SQLite). It
	// may hold a password, so it is never logged.
	URL string `toml:"url"`
}

// Server is where bty-web listens and how clients reach it.
type Server struct {
	Listen string `toml:"listen"` // address to bind
	Port   int    `toml:"port"`
	// PublicURL, if set, is the base of URLs in scripts and plans; else
	// they are built from the Host header each client used.
	PublicURL string `toml:"public_url"`
}

// Admin holds the operator's credentials.
type Admin struct {
	Password string `toml:"password"`
}

// Paths are where state lives.
type Paths struct {
	StateDir string `toml:"state_dir"`
	// BootSeed names a directory whose files are copied into the boot
	// files on start when missing there (the container image ships the
	// iPXE binaries in /usr/share/bty/ipxe); "" for none.
	BootSeed string `toml:"boot_seed"`
}

// Limits bound what clients may send and what bty-web keeps.
type Limits struct {
	MaxImageBytes int64 `toml:"max_image_bytes"`
	MaxBootBytes  int64 `toml:"max_boot_bytes"`
	// MaxMachines bounds the machines unknown MACs may create by PXE-booting
	// (unauthenticated); past it, unknown MACs still get a script but are
	// not stored. Operators can always add machines.
	MaxMachines int64 `toml:"max_machines"`
	// MaxEvents is how many audit events of each origin (the operator's, the network's) are kept; older ones are pruned.
	MaxEvents int64 `toml:"max_events"`
	// IdleSeconds is how long a connection may send nothing (headers, a
	// body, or between keep-alive requests) before it is closed.
	IdleSeconds int64 `toml:"idle_seconds"`
	// MaxConnections bounds concurrent connections, below the process's
	// file descriptor limit, so a flood cannot starve PXE clients of them.
	MaxConnections int64 `toml:"max_connections"`
	// MaxConnectionsPerAddress bounds the connections of one client
	// address (0: no bound), so a few slow clients cannot hold them all.
	// Behind a balancer or proxy every client has its address: raise it
	// or set 0 there.
	MaxConnectionsPerAddress int64 `toml:"max_connections_per_address"`
	// BootSessionSeconds is how long a machine's live boot holds it
	// without a report: until then no second live boot is offered.
	BootSessionSeconds int64 `toml:"boot_session_seconds"`
}

// Defaults returns the built-in settings.
func Defaults() Config {
	return Config{
		Server: Server{Listen: "0.0.0.0", Port: 8080},
		Admin:  Admin{Password: DefaultPassword},
		Paths:  Paths{StateDir: "/var/lib/bty", BootSeed: "/usr/share/bty/ipxe"},
		Deploy: Deploy{TimeoutSeconds: 1800},
		BMC:    BMC{TimeoutSeconds: 5, Retries: 2, MinIntervalMS: 1000, SoftOffSeconds: 60, StaggerSeconds: 5},
		Limits: Limits{MaxImageBytes: 256 << 30, MaxBootBytes: 4 << 30, MaxMachines: 10000, MaxEvents: 100000, IdleSeconds: 60, MaxConnections: 4096,
			MaxConnectionsPerAddress: 64, BootSessionSeconds: 600},
	}
}

// Sources says where the layers come from; tests replace them.
type Sources struct {
	SystemFile string              // normally /etc/bty/bty.toml
	Env        func(string) string // normally os.Getenv
	Environ    []string            // normally os.Environ(), to spot misspelt variables
}

// System returns the real sources.
func System() Sources {
	return Sources{SystemFile: "/etc/bty/bty.toml", Env: os.Getenv, Environ: os.Environ()}
}

// Load builds the configuration from src.
func Load(src Sources) (Config, error) {
	c := Defaults()
	if err := mergeFile(&c, src.SystemFile); err != nil {
		return c, err
	}
	// The state dir names the second file, so the environment's say on it
	// counts before that file is read.
	if v := src.Env("BTY_PATHS_STATE_DIR"); v != "" {
		c.Paths.StateDir = v
	}
	if err := mergeFile(&c, filepath.Join(c.Paths.StateDir, "bty.toml")); err != nil {
		return c, err
	}
	if err := mergeEnv(&c, src); err != nil {
		return c, err
	}
	return c, c.validate()
}

func mergeFile(c *Config, path string) error {
	if path == "" {
		return nil
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading config %s: %w", path, err)
	}
	md, err := toml.Decode(string(data), c)
	if err != nil {
		return fmt.Errorf("config %s: %w", path, err)
	}
	if keys := md.Undecoded(); len(keys) > 0 {
		return fmt.Errorf("config %s: unknown key %q (known: %s)", path, keys[0].String(), strings.Join(knownKeys(), ", "))
	}
	return nil
}

// fields walks the two-level struct: section, key, and the settable value.
func fields(c *Config, fn func(section, key string, v reflect.Value)) {
	cv := reflect.ValueOf(c).Elem()
	for i := range cv.NumField() {
		section := cv.Type().Field(i).Tag.Get("toml")
		sv := cv.Field(i)
		for j := range sv.NumField() {
			fn(section, sv.Type().Field(j).Tag.Get("toml"), sv.Field(j))
		}
	}
}

func envName(section, key string) string {
	return "BTY_" + strings.ToUpper(section) + "_" + strings.ToUpper(key)
}

// Key describes one setting, for its documentation.
type Key struct {
	Name    string // section.key, as in bty.toml
	Env     string // the environment variable that sets it
	Default string // the built-in value, as it would be written in bty.toml ("" for none)
}

// Keys lists every setting with its environment variable and default, in
// the order of the Config struct.
func Keys() []Key {
	var keys []Key
	d := Defaults()
	fields(&d, func(s, k string, v reflect.Value) {
		keys = append(keys, Key{Name: s + "." + k, Env: envName(s, k), Default: fmt.Sprint(v.Interface())})
	})
	return keys
}

func knownKeys() []string {
	var keys []string
	fields(&Config{}, func(s, k string, _ reflect.Value) { keys = append(keys, s+"."+k) })
	return keys
}

func mergeEnv(c *Config, src Sources) error {
	known := map[string]bool{}
	var errs []error
	fields(c, func(section, key string, v reflect.Value) {
		name := envName(section, key)
		known[name] = true
		val := src.Env(name)
		if val == "" {
			// Set but empty is a mistake (BTY_ADMIN_PASSWORD= would
			// silently mean the default password): refuse it.
			if isSet(src.Environ, name) {
				errs = append(errs, fmt.Errorf("%s is set but empty; give it a value or unset it", name))
			}
			return
		}
		switch v.Kind() {
		case reflect.String:
			v.SetString(val)
		case reflect.Int, reflect.Int64:
			n, err := strconv.ParseInt(val, 10, 64)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s=%q: want a whole number", name, val))
				return
			}
			v.SetInt(n)
		}
	})
	// A misspelt variable for a known section would be silently ignored;
	// say so instead.
	for _, kv := range src.Environ {
		name, _, _ := strings.Cut(kv, "=")
		for _, section := range []string{"BTY_SERVER_", "BTY_ADMIN_", "BTY_PATHS_", "BTY_STATE_", "BTY_LIMITS_"} {
			if strings.HasPrefix(name, section) && !known[name] {
				errs = append(errs, fmt.Errorf("unknown setting %s; known: %s", name, strings.Join(envNames(), ", ")))
			}
		}
	}
	return errors.Join(errs...)
}

func isSet(environ []string, name string) bool {
	for _, kv := range environ {
		if k, _, _ := strings.Cut(kv, "="); k == name {
			return true
		}
	}
	return false
}

func envNames() []string {
	var names []string
	fields(&Config{}, func(s, k string, _ reflect.Value) { names = append(names, envName(s, k)) })
	return names
}

func (c Config) validate() error {
	switch {
	case c.Server.Port < 1 || c.Server.Port > 65535:
		return fmt.Errorf("server.port %d out of range 1-65535", c.Server.Port)
	case c.Admin.Password == "":
		return errors.New("admin.password must not be empty")
	case c.Paths.StateDir == "":
		return errors.New("paths.state_dir must not be empty")
	case c.State.URL != "" && !strings.HasPrefix(c.State.URL, "postgres://") && !strings.HasPrefix(c.State.URL, "postgresql://"):
		return errors.New("state.url must be a postgres:// URL (or unset for SQLite in the state dir)")
	case c.Limits.MaxImageBytes <= 0 || c.Limits.MaxBootBytes <= 0 || c.Limits.MaxMachines <= 0 || c.Limits.MaxEvents <= 0 || c.Limits.IdleSeconds <= 0 || c.Limits.MaxConnections <= 0 || c.Limits.BootSessionSeconds <= 0 || c.Limits.MaxConnectionsPerAddress < 0 || c.Deploy.TimeoutSeconds <= 0 || c.BMC.TimeoutSeconds <= 0 || c.BMC.Retries < 0 || c.BMC.MinIntervalMS < 0 || c.BMC.SoftOffSeconds <= 0 || c.BMC.StaggerSeconds < 0:
		return errors.New("limits must be positive")
	}
	return checkPublicURL(c.Server.PublicURL)
}

// checkPublicURL accepts "" or an absolute http(s) URL with a host and no
// query, fragment, credentials, spaces or control characters: it is pasted
// into iPXE scripts, where a newline would add commands and ${...} expands
// a setting, and into GRUB's, quoted, where a quote would end the string.
func checkPublicURL(s string) error {
	if s == "" {
		return nil
	}
	bad := func(why string) error {
		return fmt.Errorf("server.public_url %q %s; want e.g. http://10.0.0.2:8080", s, why)
	}
	if strings.ContainsFunc(s, func(r rune) bool { return r <= ' ' || r == 0x7f || r == '"' || r == '\\' || r == '\'' }) {
		return bad("contains spaces, quotes or control characters")
	}
	if strings.ContainsAny(s, "${}") {
		return bad("contains $, { or }, which the boot scripts would expand")
	}
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return bad("is not a URL")
	case u.Scheme != "http" && u.Scheme != "https":
		return bad("must start with http:// or https://")
	case u.Host == "":
		return bad("has no host")
	case u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "":
		return bad("must not carry credentials, a query or a fragment")
	}
	return nil
}

// DefaultPasswordInUse reports whether the operator has not set a password.
func (c Config) DefaultPasswordInUse() bool { return c.Admin.Password == DefaultPassword }
