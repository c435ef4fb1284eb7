package web

import (
	"context"
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/bty-lab/bty/bty/api"
	"github.com/bty-lab/bty/bty/config"
	"github.com/bty-lab/bty/bty/provision"
)

// An ed25519 host key line as cloud-init's phone_home posts it, and its
// fingerprint as `ssh-keygen -lf` printed it.
const (
	hostKey     = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFe5qzCAh9CFh0GbKhy6k1EinG57eZoYq9XWlYFFwuTB root@web1"
	hostKeyFP   = "ssh-ed25519 SHA256:ORo9s4qx1Ev8kSO932RBNyIRRjkb2M7f7dBLpxcKFTY"
	template1   = "#cloud-config\nhostname: {{.Hostname}}\nwrite_files:\n  - path: /etc/bty-facts\n    content: \"{{.MAC}} {{index .Labels \"rack\"}} {{.Image}}\"\n"
	networkConf = "version: 2\nethernets:\n  eth0:\n    dhcp4: true\n"
)

// machineJSON reads a machine as GET /machines/{mac} shows it.
func (e *env) machine(m string) provision.Machine {
	e.t.Helper()
	var got provision.Machine
	json.Unmarshal(e.expect(200, "GET", "/machines/"+m, nil), &got)
	return got
}

// A deployment through the API, as the flasher and the installed system
// drive it: the templates are checked when saved (a bad one changes
// nothing), the live boot gets its seed once its flash began, a verified
// flash that wrote the seed waits for the phone-home, and only the
// deployment's own token marks the machine deployed.
func TestDeployment(t *testing.T) {
	e := start(t, t.TempDir())
	e.login()
	var up api.Uploaded
	json.Unmarshal(e.expect(200, "PUT", "/images/debian.img", strings.NewReader("image bytes")), &up)
	e.expect(200, "PUT", "/templates", jsonBody(api.Templates{UserData: template1}))
	for bad, why := range map[string]string{
		"#cloud-config\nhostname: {{.Hostname}\n":    "line 2",
		"#cloud-config\nusers: [\n":                  "line",
		"#cloud-config\nphone_home: {url: http://x}": "phone_home",
	} {
		if b := string(e.expect(422, "PUT", "/templates", jsonBody(api.Templates{UserData: bad}))); !strings.Contains(b, why) {
			t.Errorf("template %q refused with %s; want it to name %q", bad, b, why)
		}
	}
	e.expect(422, "PUT", "/templates", jsonBody(api.Templates{Images: map[string]api.ImageTemplate{"nope.img": {CloudInit: true}}}))
	var saved api.Templates
	json.Unmarshal(e.expect(200, "GET", "/templates", nil), &saved)
	if saved.UserData != template1 {
		t.Fatalf("after refused saves the template is %q", saved.UserData)
	}

	// A machine's network-config and hostname are checked when saved.
	e.expect(422, "PUT", "/machines/"+addr, jsonBody(provision.Settings{BootMode: provision.ModeFlashAlways, NetworkConfig: "version: 1\n"}))
	e.expect(422, "PUT", "/machines/"+addr, jsonBody(provision.Settings{BootMode: provision.ModeFlashAlways, Labels: map[string]string{"hostname": "Web_1"}}))
	e.expect(200, "PUT", "/machines/"+addr, jsonBody(provision.Settings{BootMode: provision.ModeFlashAlways, ImageRef: up.Ref, TargetDiskSerial: "S1",
		Labels: map[string]string{"hostname": "web1", "rack": "r7"}, NetworkConfig: networkConf}))
	if got := e.boot(addr); got != "flash" {
		t.Fatalf("boots %s", got)
	}
	e.expect(409, "GET", "/pxe/"+addr+"/cloud-init", nil) // no flash has reported yet
	e.expect(403, "GET", "/pxe/"+addr+"/cloud-init", nil, "Authorization", "Bearer 00")
	e.expect(204, "POST", "/pxe/"+addr+"/status", jsonBody(provision.Status{Status: provision.StatusProgress, Stage: "start"}))
	var seed api.Seed
	json.Unmarshal(e.expect(200, "GET", "/pxe/"+addr+"/cloud-init", nil), &seed)
	var meta map[string]string
	yaml.Unmarshal([]byte(seed.MetaData), &meta)
	var ud struct {
		Hostname   string
		PhoneHome  struct{ URL string }       `yaml:"phone_home"`
		WriteFiles []struct{ Content string } `yaml:"write_files"`
	}
	yaml.Unmarshal([]byte(seed.UserData), &ud)
	instance := e.machine(addr).Deployment.InstanceID
	if !seed.Enabled || meta["instance-id"] != instance || instance == "" || meta["local-hostname"] != "web1" || ud.Hostname != "web1" ||
		len(ud.WriteFiles) != 1 || ud.WriteFiles[0].Content != addr+" r7 debian.img" || seed.NetworkConfig != networkConf {
		t.Fatalf("seed %+v; user-data %+v", seed, ud)
	}
	phone, err := url.Parse(ud.PhoneHome.URL)
	if err != nil || !strings.HasPrefix(ud.PhoneHome.URL, public+"/pxe/"+addr+"/deployed?token=") {
		t.Fatalf("phone_home url %q", ud.PhoneHome.URL)
	}
	// The seed is the same each time it is asked for.
	var again api.Seed
	json.Unmarshal(e.expect(200, "GET", "/pxe/"+addr+"/cloud-init", nil), &again)
	if again != seed {
		t.Error("a second render differs")
	}

	e.expect(204, "POST", "/pxe/"+addr+"/status", jsonBody(provision.Status{Status: provision.StatusDone, SHA256: up.SHA256, Seed: true}))
	if state, _ := e.machine(addr).Lifecycle(); state != "rebooting" {
		t.Errorf("after the flash: %s, want rebooting", state)
	}
	form := url.Values{"instance_id": {instance}, "hostname": {"web1"}, "pub_key_ed25519": {hostKey}, "pub_key_rsa": {"N/A"}}
	post := func(status int, query string, f url.Values) {
		t.Helper()
		e.expect(status, "POST", phone.Path+"?"+query, strings.NewReader(f.Encode()), "Content-Type", "application/x-www-form-urlencoded")
	}
	wrong := url.Values{"token": {strings.Repeat("0", 64)}}
	post(403, wrong.Encode(), form)
	old := url.Values{"instance_id": {"bty-0000000000000000"}, "hostname": {"web1"}}
	post(403, phone.RawQuery, old) // a token made for this instance proves no other
	if m := e.machine(addr); m.Deployment.State != "" {
		t.Fatalf("refused phone-homes changed the deployment: %+v", m.Deployment)
	}
	post(204, phone.RawQuery, form)
	m := e.machine(addr)
	if state, _ := m.Lifecycle(); state != "deployed" || m.Deployment.Hostname != "web1" || len(m.Deployment.HostKeys) != 1 || m.Deployment.HostKeys[0] != hostKeyFP {
		t.Errorf("after the phone-home: %s %+v", state, m.Deployment)
	}
	post(403, phone.RawQuery, form) // once
	kinds := e.eventKinds()
	if kinds["machine.deployed"] != 1 || kinds["machine.phone_home_refused"] != 3 || kinds["templates.saved"] != 1 {
		t.Errorf("events %v", kinds)
	}
}

// A machine or its image may opt out: no seed, no wait for a phone-home.
func TestDeploymentOptOut(t *testing.T) {
	e := start(t, t.TempDir())
	e.login()
	var up api.Uploaded
	json.Unmarshal(e.expect(200, "PUT", "/images/plain.img", strings.NewReader("image bytes")), &up)
	off := false
	e.expect(200, "PUT", "/machines/"+addr, jsonBody(provision.Settings{BootMode: provision.ModeFlashOnce, ImageRef: up.Ref, TargetDiskSerial: "S1", CloudInit: &off}))
	e.boot(addr)
	e.expect(204, "POST", "/pxe/"+addr+"/status", jsonBody(provision.Status{Status: provision.StatusProgress, Stage: "start"}))
	if b := string(e.expect(200, "GET", "/pxe/"+addr+"/cloud-init", nil)); b != `{"enabled":false}`+"\n" {
		t.Errorf("machine opted out: %s", b)
	}
	e.expect(200, "PUT", "/machines/"+addr, jsonBody(provision.Settings{BootMode: provision.ModeFlashOnce, ImageRef: up.Ref, TargetDiskSerial: "S1"}))
	e.expect(200, "PUT", "/templates", jsonBody(api.Templates{Images: map[string]api.ImageTemplate{"plain.img": {CloudInit: false}}}))
	e.boot(addr)
	e.expect(204, "POST", "/pxe/"+addr+"/status", jsonBody(provision.Status{Status: provision.StatusProgress, Stage: "start"}))
	if b := string(e.expect(200, "GET", "/pxe/"+addr+"/cloud-init", nil)); b != `{"enabled":false}`+"\n" {
		t.Errorf("image opted out: %s", b)
	}
	e.expect(204, "POST", "/pxe/"+addr+"/status", jsonBody(provision.Status{Status: provision.StatusDone, SHA256: up.SHA256}))
	if state, _ := e.machine(addr).Lifecycle(); state != "verified" {
		t.Errorf("a flash without a seed: %s, want verified", state)
	}
}

// A deployment whose installed system never phones home is marked failed
// at its deadline, saying why, with an event.
func TestDeploymentDeadline(t *testing.T) {
	e := startWith(t, t.TempDir(), func(c *config.Config) { c.Deploy.TimeoutSeconds = 1 })
	e.login()
	var up api.Uploaded
	json.Unmarshal(e.expect(200, "PUT", "/images/debian.img", strings.NewReader("image bytes")), &up)
	e.expect(200, "PUT", "/machines/"+addr, jsonBody(provision.Settings{BootMode: provision.ModeFlashOnce, ImageRef: up.Ref, TargetDiskSerial: "S1"}))
	e.boot(addr)
	e.expect(204, "POST", "/pxe/"+addr+"/status", jsonBody(provision.Status{Status: provision.StatusProgress, Stage: "start"}))
	e.expect(204, "POST", "/pxe/"+addr+"/status", jsonBody(provision.Status{Status: provision.StatusDone, SHA256: up.SHA256, Seed: true}))
	// Before the deadline a sweep changes nothing; past it, the machine
	// is failed, saying why. (The store's clock moves; bty-web's own sweep
	// runs every sweepEvery, the same function.)
	if err := e.srv.lab.Sweep(context.Background()); err != nil {
		t.Fatal(err)
	}
	if state, _ := e.machine(addr).Lifecycle(); state != "rebooting" {
		t.Fatalf("before the deadline: %s", state)
	}
	later := time.Now().Add(2 * time.Second)
	e.srv.store.Now = func() time.Time { return later }
	if err := e.srv.lab.Sweep(context.Background()); err != nil {
		t.Fatal(err)
	}
	if state, why := e.machine(addr).Lifecycle(); state != "failed" || !strings.Contains(why, "no phone-home") {
		t.Errorf("past the deadline: %s, %q", state, why)
	}
	if b := string(e.expect(200, "GET", "/events?limit=100", nil)); !strings.Contains(b, `"machine.deploy_failed"`) {
		t.Errorf("no machine.deploy_failed event: %s", b)
	}
}
