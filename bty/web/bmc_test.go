package web

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/pem"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bty-lab/bty/bty/api"
	"github.com/bty-lab/bty/bty/config"
	"github.com/bty-lab/bty/bty/provision"
	"github.com/bty-lab/bty/internal/redfishsim"
	"github.com/bty-lab/bty/internal/testenv"
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

// Reimage and power through bty-web, with OpenIPMI's simulator as the
// machine's BMC: the one-time network boot and the power-on reach the
// chassis, the machine is armed to flash the image once, and every
// action is on record; with a wrong password nothing reaches the chassis,
// the machine's settings are put back and the operator is told why.
func TestReimageThroughIPMI(t *testing.T) {
	bmcAddr, chassis := testenv.IPMISim(t, "admin", bmcPassword)
	e := startWith(t, t.TempDir(), func(c *config.Config) { c.BMC.KeyFile = keyFile(t, 7); c.BMC.MinIntervalMS = 0 })
	e.login()
	var up api.Uploaded
	json.Unmarshal(e.expect(200, "PUT", "/images/debian.img", strings.NewReader("image bytes")), &up)
	e.expect(200, "PUT", "/machines/"+addr, jsonBody(provision.Settings{BootMode: provision.ModeExit, TargetDiskSerial: "S1"}))
	e.expect(409, "POST", "/machines/"+addr+"/reimage", jsonBody(api.Reimage{ImageRef: up.Ref})) // no BMC yet

	e.expect(200, "PUT", "/machines/"+addr+"/bmc", jsonBody(api.BMC{Protocol: "ipmi", Address: bmcAddr, User: "admin", Password: "wrong-pass"}))
	if b := string(e.expect(502, "POST", "/machines/"+addr+"/reimage", jsonBody(api.Reimage{ImageRef: up.Ref}))); !strings.Contains(b, "refused the user or password") {
		t.Errorf("reimage with a wrong password: %s", b)
	}
	if m := e.machine(addr); m.BootMode != provision.ModeExit || m.ImageRef != "" {
		t.Errorf("after a refused reimage the machine is %s with %q; want its settings back", m.BootMode, m.ImageRef)
	}
	if got := testenv.ChassisLog(chassis); got != "" {
		t.Errorf("a refused session reached the chassis: %q", got)
	}

	e.expect(200, "PUT", "/machines/"+addr+"/bmc", jsonBody(api.BMC{Protocol: "ipmi", Address: bmcAddr, User: "admin", Password: bmcPassword}))
	var st api.PowerState
	json.Unmarshal(e.expect(200, "POST", "/machines/"+addr+"/power", jsonBody(api.PowerRequest{Action: "status"})), &st)
	if st.On {
		t.Fatal("the simulated machine starts on")
	}
	m := e.machine(addr)
	json.Unmarshal(e.expect(200, "POST", "/machines/"+addr+"/reimage", jsonBody(api.Reimage{ImageRef: up.Ref})), &m)
	if m.BootMode != provision.ModeFlashOnce || m.ImageRef != up.Ref || m.TargetDiskSerial != "S1" {
		t.Errorf("after the reimage: %s, %q, %q", m.BootMode, m.ImageRef, m.TargetDiskSerial)
	}
	if got := testenv.ChassisLog(chassis); got != "boot pxe\npower 1" {
		t.Errorf("the chassis saw %q; want a one-time network boot, then power on", got)
	}
	// Running now: a second reimage cycles the power.
	e.expect(200, "POST", "/machines/"+addr+"/reimage", jsonBody(api.Reimage{ImageRef: up.Ref}))
	if got := testenv.ChassisLog(chassis); !strings.HasPrefix(got, "boot pxe\npower 1\nboot pxe\npower 0") {
		t.Errorf("the chassis saw %q; want the second boot set, then the power cycled", got)
	}
	kinds := e.eventKinds()
	if kinds["machine.reimage"] != 2 || kinds["machine.power_failed"] != 1 {
		t.Errorf("events %v", kinds)
	}
}

// The same reimage through a Redfish BMC (the stand-in of
// internal/redfishsim, over HTTPS, its certificate checked against
// bmc.redfish_ca_file): a one-time UEFI PXE boot, then power on.
func TestReimageThroughRedfish(t *testing.T) {
	b := &redfishsim.BMC{User: "root", Password: bmcPassword}
	ts := httptest.NewTLSServer(b)
	defer ts.Close()
	ca := filepath.Join(t.TempDir(), "bmc-ca.pem")
	os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ts.Certificate().Raw}), 0o644)
	e := startWith(t, t.TempDir(), func(c *config.Config) {
		c.BMC.KeyFile, c.BMC.RedfishCAFile, c.BMC.MinIntervalMS = keyFile(t, 9), ca, 0
	})
	e.login()
	var up api.Uploaded
	json.Unmarshal(e.expect(200, "PUT", "/images/debian.img", strings.NewReader("image bytes")), &up)
	e.expect(200, "PUT", "/machines/"+addr, jsonBody(provision.Settings{BootMode: provision.ModeExit, TargetDiskSerial: "S1"}))
	e.expect(200, "PUT", "/machines/"+addr+"/bmc", jsonBody(api.BMC{Protocol: "redfish", Address: strings.TrimPrefix(ts.URL, "https://"), User: "root", Password: bmcPassword}))
	e.expect(200, "POST", "/machines/"+addr+"/reimage", jsonBody(api.Reimage{ImageRef: up.Ref}))
	if got := b.Changes(); got != "boot Pxe Once UEFI\nreset On" {
		t.Errorf("the BMC saw %q", got)
	}
	var st api.PowerState
	json.Unmarshal(e.expect(200, "POST", "/machines/"+addr+"/power", jsonBody(api.PowerRequest{Action: "status"})), &st)
	if !st.On {
		t.Error("after the reimage the machine is off")
	}
}

// A rack: every machine labelled rack=r1 that has a BMC is reimaged, two
// at a time, the waves bmc.stagger_seconds apart; one without a BMC is
// skipped and said so; the whole ends with one event.
func TestReimageRack(t *testing.T) {
	e := startWith(t, t.TempDir(), func(c *config.Config) { c.BMC.KeyFile, c.BMC.MinIntervalMS, c.BMC.StaggerSeconds = keyFile(t, 3), 0, 1 })
	e.login()
	var up api.Uploaded
	json.Unmarshal(e.expect(200, "PUT", "/images/debian.img", strings.NewReader("image bytes")), &up)
	macs := []string{"52:54:00:00:01:01", "52:54:00:00:01:02", "52:54:00:00:01:03"}
	chassis := map[string]string{}
	for _, m := range macs {
		e.expect(200, "PUT", "/machines/"+m, jsonBody(provision.Settings{BootMode: provision.ModeExit, TargetDiskSerial: "S1", Labels: map[string]string{"rack": "r1"}}))
		a, dir := testenv.IPMISim(t, "admin", bmcPassword)
		chassis[m] = dir
		e.expect(200, "PUT", "/machines/"+m+"/bmc", jsonBody(api.BMC{Protocol: "ipmi", Address: a, User: "admin", Password: bmcPassword}))
	}
	e.expect(200, "PUT", "/machines/52:54:00:00:01:04", jsonBody(provision.Settings{BootMode: provision.ModeExit, TargetDiskSerial: "S1", Labels: map[string]string{"rack": "r1"}}))
	e.expect(200, "PUT", "/machines/52:54:00:00:02:01", jsonBody(provision.Settings{BootMode: provision.ModeExit, Labels: map[string]string{"rack": "r2"}}))
	e.expect(422, "POST", "/reimage", jsonBody(api.RackReimage{Selector: "rack=r9", ImageRef: up.Ref}))
	e.expect(422, "POST", "/reimage", jsonBody(api.RackReimage{Selector: "rack", ImageRef: up.Ref}))
	var plan struct {
		Machines []string
		Skipped  map[string]string
	}
	json.Unmarshal(e.expect(202, "POST", "/reimage", jsonBody(api.RackReimage{Selector: "rack=r1", ImageRef: up.Ref, MaxParallel: 2})), &plan)
	if len(plan.Machines) != 3 || plan.Skipped["52:54:00:00:01:04"] != "no BMC" {
		t.Fatalf("plan %+v", plan)
	}
	type event struct {
		Kind, MAC string
		At        time.Time
	}
	var evs []event
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for deadline := time.Now().Add(60 * time.Second); ; <-tick.C {
		json.Unmarshal(e.expect(200, "GET", "/events?limit=1000", nil), &evs)
		if slices.ContainsFunc(evs, func(x event) bool { return x.Kind == "rack.reimage" }) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no rack.reimage event after 60 s: %+v", evs)
		}
	}
	var at []time.Time
	for _, x := range evs {
		if x.Kind == "machine.reimage" {
			at = append(at, x.At)
		}
	}
	slices.SortFunc(at, func(a, b time.Time) int { return a.Compare(b) })
	if len(at) != 3 || at[2].Sub(at[0]) < 900*time.Millisecond {
		t.Errorf("reimages at %v; want 3, the third a wave (1 s) after the first; events:\n%s", at, e.expect(200, "GET", "/events?limit=1000", nil))
	}
	for m, dir := range chassis {
		if got := testenv.ChassisLog(dir); got != "boot pxe\npower 1" {
			t.Errorf("%s's chassis saw %q", m, got)
		}
		if got := e.machine(m); got.BootMode != provision.ModeFlashOnce || got.ImageRef != up.Ref {
			t.Errorf("%s: %s %q", m, got.BootMode, got.ImageRef)
		}
	}
}

// A BMC that stops answering mid-command (the session opened, the boot
// device set, the power-on never answered): the operator is told it did
// not answer, the machine's settings are put back, and it is on record.
func TestReimageBMCStopsAnswering(t *testing.T) {
	bmcAddr, chassis := testenv.IPMISim(t, "admin", bmcPassword)
	e := startWith(t, t.TempDir(), func(c *config.Config) {
		c.BMC.KeyFile, c.BMC.MinIntervalMS, c.BMC.TimeoutSeconds, c.BMC.Retries = keyFile(t, 8), 0, 1, 1
	})
	e.login()
	var up api.Uploaded
	json.Unmarshal(e.expect(200, "PUT", "/images/debian.img", strings.NewReader("image bytes")), &up)
	e.expect(200, "PUT", "/machines/"+addr, jsonBody(provision.Settings{BootMode: provision.ModeExit, TargetDiskSerial: "S1"}))
	e.expect(200, "PUT", "/machines/"+addr+"/bmc", jsonBody(api.BMC{Protocol: "ipmi", Address: bmcAddr, User: "admin", Password: bmcPassword}))
	os.WriteFile(filepath.Join(chassis, "hang"), nil, 0o644)
	start := time.Now()
	b := string(e.expect(502, "POST", "/machines/"+addr+"/reimage", jsonBody(api.Reimage{ImageRef: up.Ref})))
	if !strings.Contains(b, "did not answer") || time.Since(start) > 30*time.Second {
		t.Errorf("after %s: %s; want the BMC's silence named", time.Since(start).Round(time.Millisecond), b)
	}
	if m := e.machine(addr); m.BootMode != provision.ModeExit || m.ImageRef != "" {
		t.Errorf("after a silent BMC the machine is %s with %q; want its settings back", m.BootMode, m.ImageRef)
	}
	if got := testenv.ChassisLog(chassis); got != "boot pxe" {
		t.Errorf("the chassis saw %q; want the boot device set and the power-on unanswered", got)
	}
	if ev := string(e.expect(200, "GET", "/events?limit=100", nil)); !strings.Contains(ev, `"machine.power_failed"`) {
		t.Error("no machine.power_failed event")
	}
}
