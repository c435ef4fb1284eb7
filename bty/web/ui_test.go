package web

import (
	"encoding/json"
	"io"
	"net/url"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/bty-lab/bty/bty/api"
	"github.com/bty-lab/bty/bty/config"
	"github.com/bty-lab/bty/bty/provision"
	"github.com/bty-lab/bty/internal/testenv"
)

// csrfField finds the form token a page carries.
var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func (e *env) csrf(page string) string {
	e.t.Helper()
	m := csrfField.FindSubmatch(e.expect(200, "GET", page, nil))
	if m == nil {
		e.t.Fatalf("%s has no CSRF token", page)
	}
	return string(m[1])
}

func (e *env) form(status int, path string, fields url.Values) string {
	e.t.Helper()
	return string(e.expect(status, "POST", path, strings.NewReader(fields.Encode()), "Content-Type", "application/x-www-form-urlencoded", "Accept", "text/html"))
}

// Without a session every page sends the browser to the login page; the
// login page and the pages' script and style are open; a wrong password
// shows the login page with an error and sets no cookie.
func TestUILogin(t *testing.T) {
	e := start(t, t.TempDir())
	for _, p := range []string{"/", "/ui/", "/ui/machines", "/ui/machines/52:54:00:11:22:33", "/ui/images", "/ui/setup"} {
		resp, _ := e.do("GET", p, nil)
		if loc := resp.Header.Get("Location"); resp.StatusCode != 303 || (loc != "/ui/login" && loc != "/ui/machines") {
			t.Errorf("GET %s logged out = %d to %q", p, resp.StatusCode, loc)
		}
	}
	login := string(e.expect(200, "GET", "/ui/login", nil))
	if !strings.Contains(login, `name="password"`) || strings.Contains(login, `name="csrf"`) {
		t.Errorf("login page:\n%s", login)
	}
	for _, f := range []string{"bty.css", "bty.js"} {
		e.expect(200, "GET", "/ui/static/"+f, nil)
	}
	e.expect(404, "GET", "/ui/static/nope.js", nil)
	got := e.form(401, "/ui/login", url.Values{"password": {"wrong"}})
	u, _ := url.Parse(e.ts.URL)
	if !strings.Contains(got, "Wrong password.") || len(e.client.Jar.Cookies(u)) != 0 {
		t.Errorf("wrong password: cookie %v, page:\n%s", e.client.Jar.Cookies(u), got)
	}
	resp, _ := e.do("POST", "/ui/login", strings.NewReader("password="+password), "Content-Type", "application/x-www-form-urlencoded")
	if resp.StatusCode != 303 || resp.Header.Get("Location") != "/ui/machines" {
		t.Errorf("login = %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	// Logging out is a form too, with its token; afterwards the pages are
	// closed again.
	tok := e.csrf("/ui/machines")
	e.form(403, "/ui/logout", url.Values{})
	resp, _ = e.do("POST", "/ui/logout", strings.NewReader(url.Values{"csrf": {tok}}.Encode()), "Content-Type", "application/x-www-form-urlencoded")
	if resp.StatusCode != 303 || resp.Header.Get("Location") != "/ui/login?bye" {
		t.Errorf("logout = %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if resp, _ := e.do("GET", "/ui/machines", nil); resp.StatusCode != 303 {
		t.Errorf("after logout /ui/machines = %d", resp.StatusCode)
	}
}

// The machine form saves through the API's rules: a flash mode asks for
// confirmation first, a bad value is refused with the API's message and
// status, and the form needs the session's token.
func TestUIMachineForms(t *testing.T) {
	e := start(t, t.TempDir())
	e.login()
	e.boot(addr) // a new machine, in bty-inventory
	up := e.expect(200, "PUT", "/images/debian.img", strings.NewReader("image bytes"))
	ref := regexp.MustCompile(`"ref":"([0-9a-f]{64})"`).FindSubmatch(up)[1]
	page := "/ui/machines/" + addr
	tok := e.csrf(page)
	flash := url.Values{"csrf": {tok}, "boot_mode": {"bty-flash-once"}, "bty_image_ref": {string(ref)}, "target_disk_serial": {"BTYTEST"}}

	if got := e.form(403, page, url.Values{"boot_mode": {"ipxe-exit"}}); !strings.Contains(got, "CSRF token") || strings.Contains(got, `name="password"`) || !strings.Contains(got, `href="/ui/machines">Back`) {
		t.Errorf("a form without its token:\n%s", got)
	}
	e.form(403, page, url.Values{"csrf": {tok + "x"}, "boot_mode": {"ipxe-exit"}})
	confirm := e.form(200, page, flash)
	if !strings.Contains(confirm, "erases the disk with serial <code>BTYTEST</code>") || !strings.Contains(confirm, `name="confirm" value="erase"`) {
		t.Errorf("no confirmation:\n%s", confirm)
	}
	if got := e.expect(200, "GET", "/machines/"+addr, nil); !strings.Contains(string(got), `"boot_mode":"bty-inventory"`) {
		t.Errorf("unconfirmed, the machine changed: %s", got)
	}
	flash.Set("confirm", "erase")
	resp, _ := e.do("POST", page, strings.NewReader(flash.Encode()), "Content-Type", "application/x-www-form-urlencoded")
	if resp.StatusCode != 303 {
		t.Fatalf("confirmed save = %d", resp.StatusCode)
	}
	if got := e.boot(addr); got != "flash" {
		t.Errorf("confirmed, the machine boots %s", got)
	}
	bad := url.Values{"csrf": {tok}, "boot_mode": {"bty-flash-sometimes"}}
	if got := e.form(422, page, bad); !strings.Contains(got, "unknown boot_mode") {
		t.Errorf("bad mode:\n%s", got)
	}

	// The table shows what the PXE route decides, and the fragment the
	// page's script fetches is the same rows.
	rows := string(e.expect(200, "GET", "/ui/machines?part=rows", nil))
	if !strings.Contains(rows, addr) || !strings.Contains(rows, "bty-flash-once") || !strings.Contains(rows, "writes debian.img to the disk with serial BTYTEST") {
		t.Errorf("rows:\n%s", rows)
	}
	if strings.Contains(rows, "<html") {
		t.Error("the rows fragment is a whole page")
	}
	e.expect(303, "GET", "/ui/machines?mac="+strings.ReplaceAll(addr, ":", "-"), nil)
	e.expect(400, "GET", "/ui/machines?mac=nope", nil)

	e.form(303, page+"/delete", url.Values{"csrf": {tok}})
	e.expect(404, "GET", "/machines/"+addr, nil)
}

// Images: deleting and adding catalog entries go through the API's rules;
// the setup page fills in this server's address.
func TestUIImagesAndSetup(t *testing.T) {
	e := start(t, t.TempDir())
	e.login()
	e.expect(200, "PUT", "/images/debian.img", strings.NewReader("image bytes"))
	tok := e.csrf("/ui/images")
	if got := e.form(409, "/ui/catalog", url.Values{"csrf": {tok}, "name": {"debian.img"}, "src": {"https://example.org/d.img"}}); !strings.Contains(got, "already registered") {
		t.Errorf("a taken name:\n%s", got)
	}
	if got := e.form(422, "/ui/catalog", url.Values{"csrf": {tok}, "name": {"x.img"}, "src": {"file:///etc/passwd"}}); !strings.Contains(got, "file://") {
		t.Errorf("a file:// source:\n%s", got)
	}
	e.form(303, "/ui/catalog", url.Values{"csrf": {tok}, "name": {"remote.img.zst"}, "src": {"https://example.org/r.img.zst"}})
	list := string(e.expect(200, "GET", "/ui/images", nil))
	if !strings.Contains(list, "remote.img.zst") || !strings.Contains(list, "debian.img") {
		t.Errorf("images page:\n%s", list)
	}
	e.form(303, "/ui/images/debian.img/delete", url.Values{"csrf": {tok}})
	e.form(404, "/ui/images/debian.img/delete", url.Values{"csrf": {tok}})
	if list := string(e.expect(200, "GET", "/images", nil)); strings.Contains(list, `"debian.img"`) {
		t.Errorf("deleted image still listed: %s", list)
	}
	setup := string(e.expect(200, "GET", "/ui/setup", nil))
	host := strings.TrimPrefix(strings.TrimSuffix(public, ":8080"), "http://")
	if !strings.Contains(setup, "dhcp-boot=tag:ipxe,"+public+"/pxe-bootstrap.ipxe") || !strings.Contains(setup, "ipxe.efi,,"+host) || strings.Contains(setup, "--web-url") {
		t.Errorf("setup page for %s:\n%s", public, setup)
	}
}

// On another port than 8080, the setup page says how to tell bty-tftp,
// whose chain scripts look for bty-web on 8080 unless told.
func TestSetupPageOtherPort(t *testing.T) {
	ln := listen(t, func(c *config.Config) { c.Server.PublicURL = "http://bty.test:8081" })
	c := testenv.Login(t, "http://"+ln.Addr().String(), password)
	resp, err := c.Get("http://" + ln.Addr().String() + "/ui/setup")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if !strings.Contains(string(b), "<code>bty-tftp --web-url http://bty.test:8081</code>") {
		t.Errorf("the setup page for a server on port 8081 does not say bty-tftp --web-url:\n%s", b)
	}
}

// The templates page saves through the API's checks (a bad template shows
// its line and saves nothing), and the machine form keeps the deployment
// fields through its erase confirmation.
func TestUITemplatesAndDeployFields(t *testing.T) {
	e := start(t, t.TempDir())
	e.login()
	var up api.Uploaded
	json.Unmarshal(e.expect(200, "PUT", "/images/debian.img", strings.NewReader("image bytes")), &up)
	tok := e.csrf("/ui/templates")
	bad := e.form(422, "/ui/templates", url.Values{"csrf": {tok}, "user_data": {"#cloud-config\nhostname: {{.Hostname}\n"}, "cloud_init:debian.img": {"on"}})
	if !strings.Contains(bad, "Not saved") || !strings.Contains(bad, "line 2") {
		t.Errorf("a bad template:\n%s", bad)
	}
	resp, _ := e.do("POST", "/ui/templates", strings.NewReader(url.Values{"csrf": {tok}, "user_data": {"#cloud-config\r\nhostname: {{.Hostname}}\r\n"}}.Encode()),
		"Content-Type", "application/x-www-form-urlencoded")
	if resp.StatusCode != 303 {
		t.Fatalf("saving the templates = %d", resp.StatusCode)
	}
	var saved api.Templates
	json.Unmarshal(e.expect(200, "GET", "/templates", nil), &saved)
	if saved.UserData != "#cloud-config\nhostname: {{.Hostname}}\n" || !reflect.DeepEqual(saved.Images, map[string]api.ImageTemplate{"debian.img": {CloudInit: false}}) {
		t.Errorf("saved %+v (the unchecked box opts the image out)", saved)
	}

	page := "/ui/machines/" + addr
	form := url.Values{"csrf": {e.csrf(page)}, "boot_mode": {"bty-flash-once"}, "bty_image_ref": {up.Ref}, "target_disk_serial": {"S1"},
		"deploy_fields": {"1"}, "network_config": {"version: 2\nethernets: {}\n"}}
	confirm := e.form(200, page, form) // no cloud_init: the box is unchecked
	form.Set("confirm", "erase")
	if !strings.Contains(confirm, `name="network_config"`) || strings.Contains(confirm, `name="cloud_init"`) {
		t.Errorf("the confirmation drops the deployment fields:\n%s", confirm)
	}
	resp, _ = e.do("POST", page, strings.NewReader(form.Encode()), "Content-Type", "application/x-www-form-urlencoded")
	if resp.StatusCode != 303 {
		t.Fatalf("confirmed save = %d", resp.StatusCode)
	}
	if m := e.machine(addr); m.CloudInit || m.NetworkConfig != "version: 2\nethernets: {}\n" {
		t.Errorf("saved cloud_init %v, network_config %q", m.CloudInit, m.NetworkConfig)
	}
	if got := string(e.expect(200, "GET", page, nil)); !strings.Contains(got, `state-armed">armed`) {
		t.Errorf("the machine page does not show its lifecycle (armed)")
	}
}

// The machine page drives the BMC: its form saves it (the password never
// shown again), a power button asks it, "Reimage…" asks first and then
// reaches the chassis; the machines page's rack action asks first too.
func TestUIBMCAndReimage(t *testing.T) {
	bmcAddr, chassis := testenv.IPMISim(t, "admin", bmcPassword)
	e := startWith(t, t.TempDir(), func(c *config.Config) { c.BMC.KeyFile, c.BMC.MinIntervalMS = keyFile(t, 5), 0 })
	e.login()
	var up api.Uploaded
	json.Unmarshal(e.expect(200, "PUT", "/images/debian.img", strings.NewReader("image bytes")), &up)
	e.expect(200, "PUT", "/machines/"+addr, jsonBody(provision.Settings{BootMode: provision.ModeExit, TargetDiskSerial: "S1", Labels: map[string]string{"rack": "r1"}}))
	page := "/ui/machines/" + addr
	tok := e.csrf(page)
	post := func(status int, path string, v url.Values) string {
		t.Helper()
		v.Set("csrf", tok)
		resp, b := e.do("POST", path, strings.NewReader(v.Encode()), "Content-Type", "application/x-www-form-urlencoded", "Accept", "text/html")
		if resp.StatusCode != status {
			t.Fatalf("POST %s = %d, want %d:\n%s", path, resp.StatusCode, status, b)
		}
		return string(b)
	}
	post(303, page+"/bmc", url.Values{"protocol": {"ipmi"}, "address": {bmcAddr}, "user": {"admin"}, "password": {bmcPassword}})
	got := string(e.expect(200, "GET", page, nil))
	if !strings.Contains(got, "its password set") || strings.Contains(got, bmcPassword) {
		t.Errorf("the machine page after saving the BMC shows the password, or not that it is set")
	}
	post(303, page+"/power", url.Values{"action": {"status"}})
	if got := string(e.expect(200, "GET", "/ui/machines", nil)); !strings.Contains(got, `class="power">off<br>`) {
		t.Errorf("the machines table does not show the power the BMC reported (off)")
	}
	confirm := post(200, page+"/reimage", url.Values{"bty_image_ref": {up.Ref}})
	if !strings.Contains(confirm, "erases the disk with serial <code>S1</code>") || testenv.ChassisLog(chassis) != "" {
		t.Fatalf("no confirmation before the reimage, or the chassis moved before it:\n%s", confirm)
	}
	post(303, page+"/reimage", url.Values{"bty_image_ref": {up.Ref}, "confirm": {"erase"}})
	if got := testenv.ChassisLog(chassis); got != "boot pxe\npower 1" {
		t.Errorf("the chassis saw %q", got)
	}
	if got := string(e.expect(200, "GET", "/ui/machines", nil)); !strings.Contains(got, `class="power">on<br>`) {
		t.Errorf("after the reimage the machines table does not show the machine on")
	}
	rack := post(200, "/ui/reimage", url.Values{"selector": {"rack=r1"}, "bty_image_ref": {up.Ref}})
	if !strings.Contains(rack, "1 machines labelled rack=r1") || !strings.Contains(rack, "the target disk of each") {
		t.Errorf("the rack's confirmation:\n%s", rack)
	}
	post(422, "/ui/reimage", url.Values{"selector": {"rack=r9"}, "bty_image_ref": {up.Ref}})
}
