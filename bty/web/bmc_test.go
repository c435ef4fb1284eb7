package web

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bty-lab/bty/bty/api"
	"github.com/bty-lab/bty/bty/config"
	"github.com/bty-lab/bty/bty/provision"
)

const bmcPassword = "Sw0rdfish-ipmi" // a password no other test writes

// keyFile writes a BMC key file of 32 random-looking bytes, mode 0600.
func keyFile(t *testing.T, fill byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "bmc.key")
	if err := os.WriteFile(p, bytes.Repeat([]byte{fill}, provision.KeySize), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// A BMC password is write-only: the API never answers it, the events and
// the log never carry it, the database holds only a sealed form that its
// copy alone does not open, and bty-web opens it with its key (for the
// power drivers); with another key it says the password must be set again.
func TestBMCPasswordWriteOnly(t *testing.T) {
	dir := t.TempDir()
	key := keyFile(t, 0x5a)
	e := startWith(t, dir, func(c *config.Config) { c.BMC.KeyFile = key })
	e.login()
	e.expect(404, "PUT", "/machines/"+addr+"/bmc", jsonBody(api.BMC{Protocol: "ipmi", Address: "10.0.0.9", User: "admin", Password: bmcPassword}))
	e.expect(200, "PUT", "/machines/"+addr, jsonBody(provision.Settings{BootMode: provision.ModeExit}))
	for _, bad := range []api.BMC{
		{Protocol: "telnet", Address: "10.0.0.9", User: "admin"},
		{Protocol: "ipmi", Address: "http://10.0.0.9/", User: "admin"},
		{Protocol: "ipmi", Address: "10.0.0.9:99999", User: "admin"},
		{Protocol: "ipmi", Address: "10.0.0.9", User: "ad min"},
		{Protocol: "ipmi", Address: "10.0.0.9", User: "admin", Password: strings.Repeat("x", 21)},
	} {
		e.expect(422, "PUT", "/machines/"+addr+"/bmc", jsonBody(bad))
	}
	b := string(e.expect(200, "PUT", "/machines/"+addr+"/bmc", jsonBody(api.BMC{Protocol: "ipmi", Address: "10.0.0.9:623", User: "admin", Password: bmcPassword})))
	if strings.Contains(b, bmcPassword) || !strings.Contains(b, `"bmc":{"protocol":"ipmi","address":"10.0.0.9:623","user":"admin","password_set":true}`) {
		t.Errorf("PUT answered %s", b)
	}
	// An empty password keeps the one set.
	e.expect(200, "PUT", "/machines/"+addr+"/bmc", jsonBody(api.BMC{Protocol: "ipmi", Address: "10.0.0.10", User: "admin"}))
	got, err := e.srv.lab.BMCPassword(context.Background(), addr)
	if err != nil || got != bmcPassword {
		t.Errorf("opened %q, %v", got, err)
	}
	for _, path := range []string{"/machines/" + addr, "/machines", "/events?limit=100"} {
		if strings.Contains(string(e.expect(200, "GET", path, nil)), bmcPassword) {
			t.Errorf("GET %s shows the password", path)
		}
	}
	// The database, copied: no password in it, in any file of the state.
	e.srv.Close()
	files, _ := filepath.Glob(filepath.Join(dir, "state.db*"))
	for _, f := range files {
		b, _ := os.ReadFile(f)
		if bytes.Contains(b, []byte(bmcPassword)) {
			t.Errorf("%s holds the password in clear", filepath.Base(f))
		}
	}
	// Another key does not open it, and says what to do.
	e2 := startWith(t, dir, func(c *config.Config) { c.BMC.KeyFile = keyFile(t, 0x33) })
	if _, err := e2.srv.lab.BMCPassword(context.Background(), addr); err == nil || !strings.Contains(err.Error(), "set the password again") {
		t.Errorf("with another key: %v", err)
	}
}

// Without a key bty-web takes no BMC password (it says how to make one);
// a key file others can read, or of the wrong size, stops it at start.
func TestBMCKeyFile(t *testing.T) {
	e := start(t, t.TempDir())
	e.login()
	e.expect(200, "PUT", "/machines/"+addr, jsonBody(provision.Settings{BootMode: provision.ModeExit}))
	if b := string(e.expect(409, "PUT", "/machines/"+addr+"/bmc", jsonBody(api.BMC{Protocol: "redfish", Address: "bmc1", User: "root", Password: bmcPassword}))); !strings.Contains(b, "bmc.key_file") {
		t.Errorf("without a key: %s", b)
	}
	open := keyFile(t, 1)
	os.Chmod(open, 0o644)
	short := filepath.Join(t.TempDir(), "short.key")
	os.WriteFile(short, []byte("0123"), 0o600)
	hexKey := filepath.Join(t.TempDir(), "hex.key")
	os.WriteFile(hexKey, []byte(strings.Repeat("ab", provision.KeySize)+"\n"), 0o600)
	for path, want := range map[string]string{open: "chmod 600", short: "hex digits", hexKey: ""} {
		cfg := testConfig(t.TempDir())
		cfg.BMC.KeyFile = path
		srv, err := New(context.Background(), cfg, "1.4.0", e.srv.log)
		if srv != nil {
			srv.Close()
		}
		if (want == "" && err != nil) || (want != "" && (err == nil || !strings.Contains(err.Error(), want))) {
			t.Errorf("key file %s: %v; want %q", filepath.Base(path), err, want)
		}
	}
}
