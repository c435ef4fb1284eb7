package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func sources(t *testing.T, system, state string, env map[string]string) Sources {
	t.Helper()
	dir := t.TempDir()
	sys := filepath.Join(dir, "etc-bty.toml")
	stateDir := filepath.Join(dir, "state")
	os.MkdirAll(stateDir, 0o755)
	if system != "" {
		os.WriteFile(sys, []byte(system), 0o644)
	}
	if state != "" {
		os.WriteFile(filepath.Join(stateDir, "bty.toml"), []byte(state), 0o644)
	}
	if env == nil {
		env = map[string]string{}
	}
	if _, ok := env["BTY_PATHS_STATE_DIR"]; !ok {
		env["BTY_PATHS_STATE_DIR"] = stateDir
	}
	var environ []string
	for k, v := range env {
		environ = append(environ, k+"="+v)
	}
	return Sources{SystemFile: sys, Env: func(k string) string { return env[k] }, Environ: environ}
}

func TestLayers(t *testing.T) {
	c, err := Load(sources(t,
		"[server]\nport = 9000\nlisten = \"127.0.0.1\"\n[admin]\npassword = \"from-etc\"\n",
		"[admin]\npassword = \"from-state\"\n",
		map[string]string{"BTY_SERVER_PORT": "9100"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Server.Port != 9100 || c.Server.Listen != "127.0.0.1" || c.Admin.Password != "from-state" {
		t.Errorf("config = %+v", c)
	}
	if c.DefaultPasswordInUse() {
		t.Error("default password reported in use")
	}
	d, err := Load(sources(t, "", "", nil))
	if err != nil || !d.DefaultPasswordInUse() || d.Server.Port != 8080 {
		t.Errorf("defaults: %+v, %v", d, err)
	}
}

func TestErrors(t *testing.T) {
	for name, tc := range map[string]struct {
		system string
		env    map[string]string
		want   string
	}{
		"unknown key":    {"[server]\nprot = 1\n", nil, `unknown key "server.prot"`},
		"bad toml":       {"[server\n", nil, "etc-bty.toml"},
		"wrong type":     {"[server]\nport = \"x\"\n", nil, "etc-bty.toml"},
		"bad env number": {"", map[string]string{"BTY_SERVER_PORT": "80a"}, `BTY_SERVER_PORT="80a"`},
		"misspelt env":   {"", map[string]string{"BTY_ADMIN_PASSWROD": "x"}, "unknown setting BTY_ADMIN_PASSWROD"},
		"port range":     {"[server]\nport = 70000\n", nil, "out of range"},
		"public url":     {"[server]\npublic_url = \"ftp://x\"\n", nil, "public_url"},
		// Issue 18: each of these was accepted before.
		"empty password env":     {"", map[string]string{"BTY_ADMIN_PASSWORD": ""}, "BTY_ADMIN_PASSWORD is set but empty"},
		"public url newline":     {"", map[string]string{"BTY_SERVER_PUBLIC_URL": "http://10.0.0.2:8080\nshell"}, "control characters"},
		"public url space":       {"[server]\npublic_url = \"http://h:1/ x\"\n", nil, "control characters"},
		"public url query":       {"[server]\npublic_url = \"http://h:1/?a=b\"\n", nil, "query"},
		"public url credentials": {"[server]\npublic_url = \"http://u:p@h:1\"\n", nil, "credentials"},
		"public url no host":     {"[server]\npublic_url = \"http:///x\"\n", nil, "no host"},
		"public url quote":       {"[server]\npublic_url = \"http://h:1/a'b\"\n", nil, "quotes"},
		"public url expansion":   {"[server]\npublic_url = \"http://h:1/${net0/ip}\"\n", nil, "expand"},
	} {
		_, err := Load(sources(t, tc.system, "", tc.env))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", name, err, tc.want)
		}
	}
}

// state.url takes a PostgreSQL URL only, and its refusal never repeats it
// (it may hold a password).
func TestStateURL(t *testing.T) {
	c, err := Load(sources(t, "", "", map[string]string{"BTY_STATE_URL": "postgres://bty:pw@db:5432/bty"}))
	if err != nil || c.State.URL != "postgres://bty:pw@db:5432/bty" {
		t.Errorf("postgres URL: %+v, %v", c.State, err)
	}
	_, err = Load(sources(t, "", "", map[string]string{"BTY_STATE_URL": "mysql://bty:secret@db/bty"}))
	if err == nil || strings.Contains(err.Error(), "secret") {
		t.Errorf("a mysql URL: %v", err)
	}
}
