// Package webui tests bty-web's web UI in a real browser: the bty-web
// binary this build ships, on loopback, driven by headless Chromium
// (Debian's) over the DevTools protocol, as an operator uses it.
package webui

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/bty-lab/bty/bty/provision"
	"github.com/bty-lab/bty/internal/browser"
	"github.com/bty-lab/bty/internal/testenv"
	"github.com/bty-lab/bty/internal/webclient"
)

const (
	password = "browser-test"
	machine  = "52:54:00:be:ef:01"
	serial   = "BTYTEST"
)

// server starts the bty-web binary on a free loopback port over a fresh
// state dir and returns its URL once /healthz answers.
func server(t *testing.T) string {
	t.Helper()
	bin := testenv.Binary(t, "BTY_WEB_BIN", "github.com/bty-lab/bty/bty/cmd/bty-web")
	port := testenv.FreePort(t)
	dir := t.TempDir()
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), "BTY_PATHS_STATE_DIR="+dir, "BTY_ADMIN_PASSWORD="+password,
		"BTY_SERVER_LISTEN=127.0.0.1", fmt.Sprintf("BTY_SERVER_PORT=%d", port))
	testenv.Start(t, cmd)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	testenv.WaitHTTP(t, base+"/healthz")
	return base
}

// outputs is where the test's pictures go: Bazel's undeclared outputs,
// else a temporary directory.
func outputs(t *testing.T) string {
	if d := os.Getenv("TEST_UNDECLARED_OUTPUTS_DIR"); d != "" {
		return d
	}
	return t.TempDir()
}

// An operator's whole session in Chromium: the login page refuses a wrong
// password, logging in from the keyboard works, an image uploaded through
// the page appears, a machine's mode is set (with the erase confirmation),
// the machine's flash advances live on the machines page to "verified"
// without a reload, a form without its CSRF token is refused, and after
// logging out the pages and the API are closed.
func TestOperatorSession(t *testing.T) {
	chromium, err := browser.Path()
	testenv.Require(t, "Chromium", err)
	base := server(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	b, stop, err := browser.Start(ctx, chromium, browser.Desktop)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	out := outputs(t)
	shot := func(name string) {
		t.Helper()
		png, err := browser.Capture(b)
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		if err := os.WriteFile(filepath.Join(out, name), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	run := func(what string, actions ...chromedp.Action) {
		t.Helper()
		if err := chromedp.Run(b, actions...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	text := func(sel string) string {
		t.Helper()
		var s string
		run("reading "+sel, chromedp.Text(sel, &s, chromedp.ByQuery))
		return s
	}

	// A page asked for without a session lands on the login page.
	start := time.Now()
	run("opening the machines page", chromedp.Navigate(base+"/ui/machines"), chromedp.WaitVisible("#password"))
	weigh(t, b, "login", start)
	shot("ui-login.png")
	run("a wrong password", chromedp.SendKeys("#password", "guess\r"), chromedp.WaitVisible("p.error"))
	if got := text("p.error"); got != "Wrong password." {
		t.Errorf("wrong password shows %q", got)
	}
	if c := cookies(t, b); len(c) != 0 {
		t.Errorf("a wrong password left cookies: %v", c)
	}
	start = time.Now()
	run("logging in from the keyboard", chromedp.SendKeys("#password", password+"\r"), chromedp.WaitVisible("table.machines"))
	weigh(t, b, "machines", start)
	if c := cookies(t, b); len(c) != 1 || c[0].Name != "bty-token" || !c[0].HTTPOnly {
		t.Fatalf("session cookie: %+v", c)
	}

	// Upload an image through the page (the file input and its script).
	img := bytes.Repeat([]byte("bty browser test image\n"), 40000)
	sum := sha256.Sum256(img)
	file := filepath.Join(t.TempDir(), "lab-image.img")
	if err := os.WriteFile(file, img, 0o644); err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	run("opening the images page", chromedp.Navigate(base+"/ui/images"), chromedp.WaitVisible("#upload-form"))
	weigh(t, b, "images", start)
	run("uploading", chromedp.SetUploadFiles("#file", []string{file}, chromedp.ByQuery),
		chromedp.Click("#upload-form button", chromedp.ByQuery),
		chromedp.WaitVisible(`tr[data-image="lab-image.img"]`, chromedp.ByQuery))
	op, err := webclient.Login(base, password)
	if err != nil {
		t.Fatal(err)
	}
	var imgs []struct{ Name, SHA256, Ref string }
	getJSON(t, op, "/images", &imgs)
	if len(imgs) != 1 || imgs[0].SHA256 != hex.EncodeToString(sum[:]) {
		t.Fatalf("after the upload the server lists %+v, want lab-image.img with sha256 %x", imgs, sum)
	}
	shot("ui-images.png")

	// A machine PXE-boots and reports its disks; the operator sets it to
	// flash from its page, confirming the erase. (The live system's files
	// are stand-ins: the test is the machine.)
	if err := op.PutLiveStandIns("x86_64"); err != nil {
		t.Fatal(err)
	}
	m := webclient.NewMachine(base, machine)
	if _, err := m.Boot(); err != nil {
		t.Fatal(err)
	}
	if err := m.Inventory(provision.InventoryDisk{Path: "/dev/vda", Size: 8 << 30, Model: "QEMU HARDDISK", Serial: serial}); err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	run("opening the machine", chromedp.Navigate(base+"/ui/machines/"+machine), chromedp.WaitVisible("#mode"))
	weigh(t, b, "machine", start)
	run("setting the mode", chromedp.SetValue("#mode", string(provision.ModeFlashOnce), chromedp.ByQuery),
		chromedp.SetValue("#image", imgs[0].Ref, chromedp.ByQuery),
		chromedp.SetValue("#serial", serial, chromedp.ByQuery),
		chromedp.Click("form.settings button", chromedp.ByQuery),
		chromedp.WaitVisible("form.confirm", chromedp.ByQuery))
	shot("ui-confirm.png")
	if got, _ := op.Machine(machine); got.BootMode != provision.ModeInventory {
		t.Errorf("before the confirmation the machine is %s", got.BootMode)
	}
	run("confirming", chromedp.Click("form.confirm button", chromedp.ByQuery), chromedp.WaitVisible("p.notice", chromedp.ByQuery))
	if got, _ := op.Machine(machine); got.BootMode != provision.ModeFlashOnce || got.ImageRef != imgs[0].Ref || got.TargetDiskSerial != serial {
		t.Errorf("after the confirmation: %+v", got)
	}

	// The machine boots the flasher (its files are stand-ins: the test is
	// the machine) and reports progress; the machines page, left open,
	// follows it to "verified" with no reload.
	run("opening the machines page", chromedp.Navigate(base+"/ui/machines"), chromedp.WaitVisible("#m-52-54-00-be-ef-01"),
		chromedp.Evaluate(`window.btyNotReloaded = true`, nil))
	script, err := m.Boot()
	if err != nil || !strings.Contains(script, "kernel ") {
		t.Fatalf("the machine's script (%v):\n%s", err, script)
	}
	if err := m.FetchLive(script); err != nil {
		t.Fatal(err)
	}
	row := "#m-52-54-00-be-ef-01 td.flash"
	waitText(t, b, row, "booting")
	total := int64(len(img))
	for i, f := range []float64{0.1, 0.4, 0.7} {
		st := provision.Status{Status: provision.StatusProgress, Stage: "write", Done: int64(f * float64(total)), Total: total, Fraction: f, Elapsed: float64(i + 1)}
		if err := m.Report(st); err != nil {
			t.Fatal(err)
		}
		want := fmt.Sprintf("%d%%", int(f*100))
		waitText(t, b, row, want)
		if i == 1 {
			shot("ui-machines.png")
		}
	}
	// The flasher writes the machine's seed and says so with "done"; the
	// page then follows the deployment until the system phones home.
	seed, err := m.Seed()
	if err != nil || !seed.Enabled {
		t.Fatalf("the seed: %+v, %v", seed, err)
	}
	if err := m.Report(provision.Status{Status: provision.StatusDone, SHA256: imgs[0].SHA256, Seed: true}); err != nil {
		t.Fatal(err)
	}
	waitText(t, b, row, "verified")
	lifecycle := "#m-52-54-00-be-ef-01 td.lifecycle"
	waitText(t, b, lifecycle, "rebooting")
	if err := m.PhoneHome(seed, "lab-node"); err != nil {
		t.Fatal(err)
	}
	waitText(t, b, lifecycle, "deployed")
	var same bool
	run("checking for a reload", chromedp.Evaluate(`window.btyNotReloaded === true`, &same))
	if !same {
		t.Error("the machines page reloaded instead of following the flash")
	}
	run("opening the machine", chromedp.Navigate(base+"/ui/machines/"+machine), chromedp.WaitVisible("#live"))
	if got := text("#live"); !strings.Contains(got, "verified") || !strings.Contains(got, "boots its local disk") || !strings.Contains(got, "deployed") {
		t.Errorf("the machine's page after its flash:\n%s", got)
	}
	if got := text(".events"); !strings.Contains(got, "flash.done") || !strings.Contains(got, "flash.armed") {
		t.Errorf("the machine's history:\n%s", got)
	}
	shot("ui-machine.png")
	start = time.Now()
	run("opening the setup page", chromedp.Navigate(base+"/ui/setup"), chromedp.WaitVisible("pre"))
	weigh(t, b, "setup", start)
	if got := text("pre"); !strings.Contains(got, "dhcp-boot=tag:ipxe,"+base+"/pxe-bootstrap.ipxe") {
		t.Errorf("the setup page's dnsmasq rules:\n%s", got)
	}
	shot("ui-setup.png")

	// A form posted without its CSRF token is refused and changes nothing.
	run("posting a form without its token", chromedp.Navigate(base+"/ui/machines/"+machine), chromedp.WaitVisible("#mode"),
		chromedp.Evaluate(`document.querySelectorAll("input[name=csrf]").forEach(e => e.remove())`, nil),
		chromedp.SetValue("#mode", string(provision.ModeExit), chromedp.ByQuery),
		chromedp.Click("form.settings button", chromedp.ByQuery),
		chromedp.WaitVisible("p.error", chromedp.ByQuery))
	if got := text("p.error"); !strings.Contains(got, "CSRF token") {
		t.Errorf("a form without its token: %q", got)
	}
	if got, _ := op.Machine(machine); got.BootMode != provision.ModeFlashOnce {
		t.Errorf("a refused form changed the machine to %s", got.BootMode)
	}

	// Logging out closes the pages and the API to this browser.
	run("logging out", chromedp.Navigate(base+"/ui/machines"), chromedp.WaitVisible(".logout button", chromedp.ByQuery),
		chromedp.Click(".logout button", chromedp.ByQuery), chromedp.WaitVisible("p.notice", chromedp.ByQuery))
	if got := text("p.notice"); got != "Logged out." {
		t.Errorf("after logout: %q", got)
	}
	run("a page after logout", chromedp.Navigate(base+"/ui/machines"), chromedp.WaitVisible("#password"))
	var status int
	run("the API after logout", chromedp.Evaluate(`fetch("/machines").then(r => r.status)`, &status, awaitPromise))
	if status != http.StatusUnauthorized {
		t.Errorf("GET /machines after logout = %d, want 401", status)
	}
}

func awaitPromise(p *runtime.EvaluateParams) *runtime.EvaluateParams { return p.WithAwaitPromise(true) }

func waitText(t *testing.T, b context.Context, sel, want string) {
	t.Helper()
	if _, err := browser.WaitText(b, sel, want, 20*time.Second); err != nil {
		t.Fatal(err)
	}
}

func cookies(t *testing.T, b context.Context) []*network.Cookie {
	t.Helper()
	var c []*network.Cookie
	if err := chromedp.Run(b, chromedp.ActionFunc(func(ctx context.Context) error {
		var err error
		c, err = network.GetCookies().Do(ctx)
		return err
	})); err != nil {
		t.Fatal(err)
	}
	return c
}

func getJSON(t *testing.T, op *webclient.Operator, path string, v any) {
	t.Helper()
	resp, err := op.Client.Get(op.Base + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatal(err)
	}
}

// weigh logs what a page cost the browser, from its Resource Timing: the
// requests it made, the bytes they carried, and the time from the start
// of the navigation to the first paint with content.
func weigh(t *testing.T, b context.Context, page string, start time.Time) {
	t.Helper()
	var w struct {
		Requests []string `json:"requests"`
		Bytes    int      `json:"bytes"`
		FCP      float64  `json:"fcp"`
	}
	// The first contentful paint is awaited: it may be reported a moment
	// after the page's content is there.
	js := `new Promise(done => {
		const nav = performance.getEntriesByType("navigation")[0];
		const res = performance.getEntriesByType("resource");
		const report = fcp => done({requests: [nav.name].concat(res.map(r => r.name)),
			bytes: nav.decodedBodySize + res.reduce((n, r) => n + r.decodedBodySize, 0), fcp: fcp});
		new PerformanceObserver(l => report(l.getEntriesByName("first-contentful-paint")[0]?.startTime ?? -1))
			.observe({type: "paint", buffered: true});
		setTimeout(() => report(-1), 2000);
	})`
	if err := chromedp.Run(b, chromedp.Evaluate(js, &w, awaitPromise)); err != nil {
		t.Fatalf("weighing %s: %v", page, err)
	}
	if len(w.Requests) != 3 {
		t.Errorf("%s made %d requests %q; want 3 (the page, its style, its script)", page, len(w.Requests), w.Requests)
	}
	if w.FCP < 0 {
		t.Errorf("%s: no first contentful paint within 2 s", page)
	}
	t.Logf("page %s: %d requests, %d bytes (uncompressed), first contentful paint %.0f ms after navigation start (%s wall)", page, len(w.Requests), w.Bytes, w.FCP, time.Since(start).Round(time.Millisecond))
}
