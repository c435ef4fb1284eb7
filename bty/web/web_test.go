package web

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"github.com/bty-lab/bty/bty/api"
	"github.com/bty-lab/bty/bty/provision"
	"github.com/bty-lab/bty/bty/pxescript"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/bty-lab/bty/bty/catalog"
	"github.com/bty-lab/bty/bty/config"
)

const (
	password = "test-password"
	public   = "http://bty.test:8080"
	addr     = "52:54:00:11:22:33"
)

type env struct {
	t      *testing.T
	dir    string
	srv    *Server
	ts     *httptest.Server
	client *http.Client // with a cookie jar
	// script is the per-MAC script route after /pxe/{mac}: "" for iPXE's,
	// "/grub" for GRUB's.
	script string
	// tokens are the live boots' tokens by MAC, from the last boot script
	// that handed one out; do sends each with its machine's reports, as
	// bty auto does (unless the request sets Authorization itself).
	tokens map[string]string
}

// machineRoute matches a machine's own routes: its boot script (GET
// /pxe/{mac}[/grub]) and its live environment's requests.
var machineRoute = regexp.MustCompile(`^/pxe/([0-9a-f:]+)(/grub|/plan|/status|/inventory|/cloud-init)?(\?.*)?$`)

// scriptToken finds the live boot's token in a boot script.
var scriptToken = regexp.MustCompile(`bty\.token=([0-9a-f]+)`)

func testConfig(dir string) config.Config {
	c := config.Defaults()
	c.Admin.Password = password
	c.Paths.StateDir = dir
	c.Server.PublicURL = public
	c.Limits.MaxBootBytes = 1 << 20
	c.Limits.MaxImageBytes = 4 << 20
	c.Paths.BootSeed = ""
	return c
}

// start runs a real server on an ephemeral port over state dir dir.
func start(t *testing.T, dir string) *env {
	t.Helper()
	return startWith(t, dir, nil)
}

// startWith is start with the test configuration changed by edit.
func startWith(t *testing.T, dir string, edit func(*config.Config)) *env {
	t.Helper()
	cfg := testConfig(dir)
	if edit != nil {
		edit(&cfg)
	}
	srv, err := New(context.Background(), cfg, "1.4.0", slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	jar, _ := cookiejar.New(nil)
	e := &env{t: t, dir: dir, srv: srv, ts: ts, client: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
		tokens: map[string]string{}}
	t.Cleanup(func() { ts.Close(); srv.Close() })
	e.trio("x86_64") // as an operator (or the image's seed) puts it there
	return e
}

// trio puts stand-ins of the live trio for arch into the boot dir.
func (e *env) trio(arch string) {
	e.t.Helper()
	nb, err := pxescript.NetbootFor("1.4.0", arch)
	if err != nil {
		e.t.Fatal(err)
	}
	for _, name := range nb.Files() {
		if err := os.WriteFile(filepath.Join(e.dir, "boot", name), []byte(name), 0o644); err != nil {
			e.t.Fatal(err)
		}
	}
}

func (e *env) do(method, path string, body io.Reader, header ...string) (*http.Response, []byte) {
	e.t.Helper()
	req, err := http.NewRequest(method, e.ts.URL+path, body)
	if err != nil {
		e.t.Fatal(err)
	}
	route := machineRoute.FindStringSubmatch(path)
	if route != nil && route[2] != "" && route[2] != "/grub" && e.tokens[route[1]] != "" {
		req.Header.Set("Authorization", "Bearer "+e.tokens[route[1]])
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := e.client.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if route != nil && (route[2] == "" || route[2] == "/grub") && method == "GET" {
		if tok := scriptToken.FindSubmatch(b); tok != nil {
			e.tokens[route[1]] = string(tok[1])
		}
	}
	return resp, b
}

func (e *env) expect(status int, method, path string, body io.Reader, header ...string) []byte {
	e.t.Helper()
	resp, b := e.do(method, path, body, header...)
	if resp.StatusCode != status {
		e.t.Fatalf("%s %s = %d %s, want %d", method, path, resp.StatusCode, b, status)
	}
	return b
}

func (e *env) login() {
	e.t.Helper()
	resp, b := e.do("POST", "/ui/login", strings.NewReader("password="+password), "Content-Type", "application/x-www-form-urlencoded")
	if resp.StatusCode != http.StatusSeeOther {
		e.t.Fatalf("login = %d %s", resp.StatusCode, b)
	}
}

func jsonBody(v any) io.Reader {
	b, _ := json.Marshal(v)
	return bytes.NewReader(b)
}

func TestOpenRoutes(t *testing.T) {
	e := start(t, t.TempDir())
	if got := e.expect(200, "GET", "/healthz", nil); strings.TrimSpace(string(got)) != `{"status":"ok"}` {
		t.Errorf("healthz = %s", got)
	}
	if got := e.expect(200, "GET", "/version", nil); strings.TrimSpace(string(got)) != `{"version":"1.4.0"}` {
		t.Errorf("version = %s", got)
	}
	golden(t, "bootstrap.ipxe", e.expect(200, "GET", "/pxe-bootstrap.ipxe", nil))
}

// golden compares a served script with testdata/name (UPDATE_GOLDEN=1
// rewrites it under `go test`).
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	// Each live boot's token is new: the files hold a placeholder.
	got = scriptToken.ReplaceAll(got, []byte("bty.token=TOKEN"))
	path := filepath.Join("testdata", name)
	if os.Getenv("UPDATE_GOLDEN") != "" {
		os.MkdirAll("testdata", 0o755)
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (create it with UPDATE_GOLDEN=1 go test ./bty/web)", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s differs (-want +got); if intended, UPDATE_GOLDEN=1 go test ./bty/web:\n%s", name, diff)
	}
}

func TestAuth(t *testing.T) {
	e := start(t, t.TempDir())
	// Without a cookie every protected route answers 401 JSON.
	for _, r := range [][2]string{{"GET", "/machines"}, {"GET", "/machines/" + addr}, {"PUT", "/machines/" + addr}, {"DELETE", "/machines/" + addr}, {"GET", "/events"}, {"PUT", "/boot/x"}, {"PUT", "/images/x.img"}, {"DELETE", "/images/x.img"}, {"POST", "/catalog/entries"}} {
		resp, b := e.do(r[0], r[1], strings.NewReader("{}"))
		if resp.StatusCode != 401 || !strings.Contains(resp.Header.Get("Content-Type"), "json") {
			t.Errorf("%s %s without cookie = %d %s", r[0], r[1], resp.StatusCode, b)
		}
	}
	resp, _ := e.do("POST", "/ui/login", strings.NewReader("password=wrong"), "Content-Type", "application/x-www-form-urlencoded")
	if resp.StatusCode != 401 || len(resp.Cookies()) != 0 {
		t.Errorf("wrong password: %d, cookies %v", resp.StatusCode, resp.Cookies())
	}
	resp, _ = e.do("POST", "/ui/login", strings.NewReader("password="+password), "Content-Type", "application/x-www-form-urlencoded")
	if resp.StatusCode != 303 || len(resp.Cookies()) != 1 {
		t.Fatalf("login: %d, cookies %v", resp.StatusCode, resp.Cookies())
	}
	c := resp.Cookies()[0]
	if c.Name != "bty-token" || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode {
		t.Errorf("cookie = %+v", c)
	}
	e.expect(200, "GET", "/machines", nil)

	// A forged or expired cookie is refused.
	u, _ := url.Parse(e.ts.URL)
	e.client.Jar.SetCookies(u, []*http.Cookie{{Name: "bty-token", Value: c.Value + "x"}})
	e.expect(401, "GET", "/machines", nil)
	e.client.Jar.SetCookies(u, []*http.Cookie{{Name: "bty-token", Value: c.Value}})
	e.srv.auth.Load().Now = func() time.Time { return time.Now().Add(13 * time.Hour) }
	e.expect(401, "GET", "/machines", nil)
	e.srv.auth.Load().Now = time.Now

	// Flooding: after 5 failures the address is locked out, even with the
	// right password.
	for range 5 {
		e.do("POST", "/ui/login", strings.NewReader("password=nope"), "Content-Type", "application/x-www-form-urlencoded")
	}
	resp, _ = e.do("POST", "/ui/login", strings.NewReader("password="+password), "Content-Type", "application/x-www-form-urlencoded")
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") == "" {
		t.Errorf("login after a flood = %d (Retry-After %q), want 429", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
}

func sum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func TestBootFiles(t *testing.T) {
	e := start(t, t.TempDir())
	e.login()
	data := bytes.Repeat([]byte("kernel!"), 10000)
	got := e.expect(200, "PUT", "/boot/vmlinuz", bytes.NewReader(data), "X-Bty-Sha256", sum(data))
	if !strings.Contains(string(got), `"size_bytes":70000`) || !strings.Contains(string(got), sum(data)) {
		t.Errorf("upload answer %s", got)
	}
	if b := e.expect(200, "GET", "/boot/vmlinuz", nil); !bytes.Equal(b, data) {
		t.Error("download differs")
	}
	resp, b := e.do("GET", "/boot/vmlinuz", nil, "Range", "bytes=7-13")
	if resp.StatusCode != 206 || string(b) != "kernel!" {
		t.Errorf("range = %d %q", resp.StatusCode, b)
	}
	resp, b = e.do("HEAD", "/boot/vmlinuz", nil)
	if resp.StatusCode != 200 || resp.ContentLength != 70000 || len(b) != 0 {
		t.Errorf("HEAD = %d, length %d", resp.StatusCode, resp.ContentLength)
	}
	e.expect(404, "GET", "/boot/missing", nil)

	// Traversal in every form is refused.
	for _, p := range []string{"/boot/..%2F..%2Fetc%2Fpasswd", "/boot/%2Fetc%2Fpasswd", "/boot/.hidden", "/boot/a%5Cb", "/boot/vmlinuz.partial", "/boot/%2E%2E"} {
		resp, _ := e.do("GET", p, nil)
		if resp.StatusCode != 400 && resp.StatusCode != 404 {
			t.Errorf("GET %s = %d, want 400 or 404", p, resp.StatusCode)
		}
		resp, _ = e.do("PUT", p, strings.NewReader("x"))
		if resp.StatusCode != 400 && resp.StatusCode != 404 {
			t.Errorf("PUT %s = %d, want 400 or 404", p, resp.StatusCode)
		}
	}

	// Oversized, wrong digest, cut short: refused, nothing kept.
	e.expect(413, "PUT", "/boot/big", bytes.NewReader(make([]byte, 2<<20)))
	e.expect(422, "PUT", "/boot/bad", bytes.NewReader(data), "X-Bty-Sha256", strings.Repeat("0", 64))
	truncatedUpload(t, e, "/boot/cut", 100000, 40000)
	for _, name := range []string{"big", "bad", "cut"} {
		e.expect(404, "GET", "/boot/"+name, nil)
	}
	left, _ := filepath.Glob(filepath.Join(e.dir, "boot", "*"))
	if len(left) != 4 || filepath.Base(left[3]) != "vmlinuz" {
		t.Errorf("boot dir holds %v, want only the trio and vmlinuz", left)
	}
}

// truncatedUpload sends a PUT announcing n bytes, sends only sent, and stops
// sending, as a client that crashed mid-upload would. The server's answer
// (read through the half-open connection) comes after its handler, and so
// its cleanup, has finished.
func truncatedUpload(t *testing.T, e *env, path string, n, sent int) {
	t.Helper()
	u, _ := url.Parse(e.ts.URL)
	var cookie string
	for _, c := range e.client.Jar.Cookies(u) {
		cookie = c.Name + "=" + c.Value
	}
	conn, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "PUT %s HTTP/1.1\r\nHost: %s\r\nCookie: %s\r\nContent-Length: %d\r\n\r\n", path, u.Host, cookie, n)
	conn.Write(make([]byte, sent))
	conn.(*net.TCPConn).CloseWrite()
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer to a cut upload: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("cut upload answered %d, want 400", resp.StatusCode)
	}
	if partials, _ := filepath.Glob(filepath.Join(e.dir, "*", "*.partial")); len(partials) > 0 {
		t.Errorf("partial files left behind: %v", partials)
	}
}

func TestImagesAndCatalog(t *testing.T) {
	e := start(t, t.TempDir())
	e.login()
	data := []byte(strings.Repeat("disk", 1000))
	var up api.Uploaded
	json.Unmarshal(e.expect(200, "PUT", "/images/debian.img", bytes.NewReader(data), "X-Bty-Sha256", sum(data)), &up)
	if up.Ref != catalog.Ref("file://debian.img") {
		t.Errorf("ref = %s, want sha256(file://debian.img)", up.Ref)
	}
	e.expect(422, "PUT", "/images/debian.tar.gz", bytes.NewReader(data))
	e.expect(422, "PUT", "/images/notes.txt", bytes.NewReader(data))
	if b := e.expect(200, "GET", "/images/"+up.Ref+"/debian.img", nil); !bytes.Equal(b, data) {
		t.Error("image download differs")
	}
	e.expect(404, "GET", "/images/"+up.Ref+"/other.img", nil)
	e.expect(400, "GET", "/images/notahexref/debian.img", nil)

	var entry api.Registered
	json.Unmarshal(e.expect(201, "POST", "/catalog/entries", jsonBody(api.CatalogEntry{Name: "fedora", Src: "HTTPS://Mirror.Example/f.qcow2", SHA256: strings.Repeat("a", 64)})), &entry)
	if entry.Ref != catalog.Ref("https://mirror.example/f.qcow2") {
		t.Errorf("entry ref = %s, want sha256 of the canonical src", entry.Ref)
	}
	e.expect(409, "POST", "/catalog/entries", jsonBody(api.CatalogEntry{Name: "fedora", Src: "https://m/x.img"}))
	e.expect(422, "POST", "/catalog/entries", jsonBody(api.CatalogEntry{Name: "x", Src: "file:///x.img"}))
	e.expect(422, "POST", "/catalog/entries", jsonBody(map[string]any{"name": "x", "src": "https://m/x.img", "extra": 1}))

	var list []map[string]any
	json.Unmarshal(e.expect(200, "GET", "/images", nil), &list)
	if len(list) != 2 || list[0]["url"] != public+"/images/"+up.Ref+"/debian.img" || list[1]["url"] != "https://mirror.example/f.qcow2" {
		t.Errorf("images = %v", list)
	}
	c, err := catalog.Parse(e.expect(200, "GET", "/catalog.toml", nil))
	if err != nil || len(c.Images) != 2 {
		t.Fatalf("catalog.toml does not parse as a catalog: %v", err)
	}

	e.expect(204, "DELETE", "/images/debian.img", nil)
	e.expect(404, "DELETE", "/images/debian.img", nil)
	e.expect(404, "GET", "/images/"+up.Ref+"/debian.img", nil)
	if _, err := os.Stat(filepath.Join(e.dir, "images", "debian.img")); !os.IsNotExist(err) {
		t.Errorf("deleted image file still there: %v", err)
	}
}

func TestBadInput(t *testing.T) {
	e := start(t, t.TempDir())
	e.login()
	e.expect(200, "GET", "/pxe/"+addr, nil) // creates the machine
	for _, bad := range []string{"52:54:00:11:22", "zz:54:00:11:22:33", "..%2F..", "52:54:00:11:22:33:44"} {
		e.expect(400, "GET", "/pxe/"+bad, nil)
		e.expect(400, "POST", "/pxe/"+bad+"/status", jsonBody(map[string]string{"status": "done"}))
		e.expect(400, "PUT", "/machines/"+bad, jsonBody(map[string]string{"boot_mode": "ipxe-exit"}))
	}
	e.expect(200, "GET", "/pxe/52-54-00-11-22-33", nil) // hyphens, same machine
	e.expect(404, "POST", "/pxe/52:54:00:99:99:99/status", jsonBody(map[string]string{"status": "done"}))
	e.expect(404, "GET", "/pxe/52:54:00:99:99:99/plan", nil)
	e.expect(400, "POST", "/pxe/"+addr+"/status", strings.NewReader("{not json"))
	e.expect(422, "POST", "/pxe/"+addr+"/status", jsonBody(map[string]string{"status": "done", "extra": "x"}))
	e.expect(422, "POST", "/pxe/"+addr+"/status", jsonBody(map[string]string{"status": "maybe"}))
	e.expect(413, "POST", "/pxe/"+addr+"/status", strings.NewReader(`{"status":"failed","reason":"`+strings.Repeat("x", 20000)+`"}`))
	disks := make([]map[string]any, 65)
	e.expect(422, "POST", "/pxe/"+addr+"/inventory", jsonBody(map[string]any{"disks": disks}))
	e.expect(422, "POST", "/pxe/"+addr+"/inventory", jsonBody(map[string]any{"disks": []any{map[string]any{"size": "big"}}}))
	e.expect(422, "PUT", "/machines/"+addr, jsonBody(map[string]any{"boot_mode": "ipxe-exit", "colour": "red"}))
	e.expect(422, "PUT", "/machines/"+addr, jsonBody(provision.Settings{BootMode: provision.Mode("warp")}))
	e.expect(422, "PUT", "/machines/"+addr, jsonBody(provision.Settings{BootMode: "bty-flash-once", ImageRef: "../x"}))
	e.expect(422, "PUT", "/machines/"+addr, jsonBody(map[string]any{"bty_image_ref": ""}))
	e.expect(404, "DELETE", "/machines/52:54:00:99:99:99", nil)
	e.expect(204, "DELETE", "/machines/"+addr, nil)
}

// bootScript fetches the per-MAC script (and keeps its token).
func (e *env) bootScript(m string) []byte {
	e.t.Helper()
	return e.expect(200, "GET", "/pxe/"+m+e.script, nil)
}

// boot fetches the per-MAC script and names what it does: "busy" when
// another live boot of the machine is under way.
func (e *env) boot(m string) string {
	e.t.Helper()
	s := string(e.bootScript(m))
	switch {
	case strings.Contains(s, "under way"):
		return "busy"
	case strings.Contains(s, "(flash)"):
		return "flash"
	case strings.Contains(s, "(inventory)"):
		return "inventory"
	case strings.Contains(s, "(interactive)"):
		return "interactive"
	case strings.Contains(s, "booting the local disk"):
		return "local"
	}
	e.t.Fatalf("unrecognised script:\n%s", s)
	return ""
}

// eventKinds counts the audit log's events by kind.
func (e *env) eventKinds() map[string]int {
	e.t.Helper()
	var ev []struct{ Kind string }
	json.Unmarshal(e.expect(200, "GET", "/events?limit=10000", nil), &ev)
	kinds := map[string]int{}
	for _, x := range ev {
		kinds[x.Kind]++
	}
	return kinds
}

func (e *env) plan(m string) string {
	e.t.Helper()
	return strings.TrimSpace(string(e.expect(200, "GET", "/pxe/"+m+"/plan", nil)))
}

// The boot modes, walked step by step through the real routes, once with
// the iPXE script and once with GRUB's (the Secure Boot chain): one
// decision, two renderings, the same sequence of boots in every mode.
func TestBootModes(t *testing.T) {
	for _, f := range []struct{ route, ext string }{{"", ".ipxe"}, {"/grub", ".grub"}} {
		t.Run(f.ext[1:], func(t *testing.T) { testBootModes(t, f.route, f.ext) })
	}
}

func testBootModes(t *testing.T, route, ext string) {
	e := start(t, t.TempDir())
	e.script = route
	e.login()
	img := []byte("image bytes")
	var up api.Uploaded
	json.Unmarshal(e.expect(200, "PUT", "/images/disk.img.zst", bytes.NewReader(img)), &up)
	for _, f := range []string{"bty-netboot-pc-x86_64-v1.4.0.vmlinuz", "bty-netboot-pc-x86_64-v1.4.0.initrd", "bty-netboot-pc-x86_64-v1.4.0.squashfs"} {
		e.expect(200, "PUT", "/boot/"+f, strings.NewReader(f))
	}
	save := func(mode string) {
		e.expect(200, "PUT", "/machines/"+addr, jsonBody(provision.Settings{BootMode: provision.Mode(mode), ImageRef: up.Ref, TargetDiskSerial: "BTYTEST", Labels: map[string]string{"rack": "a1"}}))
	}
	flashPlan := fmt.Sprintf(`{"mode":"flash","image":"%s/images/%s/disk.img.zst","target_disk_serial":"BTYTEST","sha256":"%s","format":"img.zst"}`, public, up.Ref, sum(img))
	// The live environment's flash, as bty auto reports it (the first
	// report at once, which arms the flash).
	flash := func() {
		e.t.Helper()
		if got := e.plan(addr); got != flashPlan {
			t.Errorf("plan = %s, want %s", got, flashPlan)
		}
		e.expect(204, "POST", "/pxe/"+addr+"/status", jsonBody(provision.Status{Status: provision.StatusProgress, Stage: "start"}))
		e.expect(204, "POST", "/pxe/"+addr+"/status", jsonBody(provision.Status{Status: provision.StatusDone, SHA256: sum(img)}))
	}

	// An unknown machine is created in bty-inventory: inventory, then one
	// local boot, then inventory again. While its live boot is under way
	// no second one is offered.
	script := e.bootScript(addr)
	golden(t, "inventory"+ext, script)
	if got := e.boot(addr); got != "busy" {
		t.Errorf("a second boot while the first is under way: %s", got)
	}
	if got := e.plan(addr); got != `{"mode":"inventory"}` {
		t.Errorf("inventory plan = %s", got)
	}
	e.expect(204, "POST", "/pxe/"+addr+"/inventory", jsonBody(map[string]any{"disks": []map[string]any{{"path": "/dev/vda", "size": 1 << 30, "model": "QEMU", "serial": "BTYTEST", "rotational": false}}}))
	if got := []string{e.boot(addr), e.boot(addr)}; fmt.Sprint(got) != "[local inventory]" {
		t.Errorf("after inventory: %v, want [local inventory]", got)
	}

	// bty-flash-always: flash, disk, flash, disk, ... (saving the new
	// mode ends the inventory's live boot).
	save("bty-flash-always")
	golden(t, "flash"+ext, e.bootScript(addr))
	var seq []string
	for range 3 {
		flash()
		seq = append(seq, e.boot(addr), e.boot(addr))
	}
	if fmt.Sprint(seq) != "[local flash local flash local flash]" {
		t.Errorf("flash-always sequence %v", seq)
	}
	// A failed flash is retried on the next boot.
	e.expect(204, "POST", "/pxe/"+addr+"/status", jsonBody(map[string]string{"status": "failed", "reason": "disk vanished"}))
	if got := e.boot(addr); got != "flash" {
		t.Errorf("after a failure: %s, want flash", got)
	}

	// bty-flash-once: one flash, then the disk until saved again.
	save("bty-flash-once")
	if got := e.boot(addr); got != "flash" {
		t.Fatalf("flash-once boots %s", got)
	}
	flash()
	seq = []string{e.boot(addr), e.boot(addr), e.boot(addr)}
	// The live boot ended with its report: nothing more is told.
	e.expect(403, "GET", "/pxe/"+addr+"/plan", nil)
	save("bty-flash-once")
	seq = append(seq, e.boot(addr))
	if fmt.Sprint(seq) != "[local local local flash]" {
		t.Errorf("flash-once sequence %v", seq)
	}
	golden(t, "local"+ext, func() []byte {
		flash()
		return e.bootScript(addr)
	}())

	// A flash mode that cannot flash says why and boots the disk, with no
	// live boot to tell anything.
	e.expect(200, "PUT", "/machines/"+addr, jsonBody(provision.Settings{BootMode: "bty-flash-always", ImageRef: up.Ref}))
	golden(t, "refused-no-serial"+ext, e.bootScript(addr))
	e.expect(403, "GET", "/pxe/"+addr+"/plan", nil)
	e.expect(200, "PUT", "/machines/"+addr, jsonBody(map[string]any{"boot_mode": "bty-flash-always", "bty_image_ref": strings.Repeat("b", 64), "target_disk_serial": "S"}))
	golden(t, "refused-unknown-ref"+ext, e.bootScript(addr))

	// ipxe-exit and bty-tui.
	save("ipxe-exit")
	if got := e.boot(addr); got != "local" {
		t.Errorf("ipxe-exit: %s", got)
	}
	save("bty-tui")
	golden(t, "interactive"+ext, e.bootScript(addr))
	if got := e.plan(addr); got != `{"mode":"interactive","catalog":"`+public+`/catalog.toml"}` {
		t.Errorf("tui plan = %s", got)
	}

	kinds := e.eventKinds()
	for _, k := range []string{"login", "pxe.offer", "flash.armed", "flash.done", "flash.failed", "inventory", "machine.saved", "image.added", "boot.uploaded"} {
		if kinds[k] == 0 {
			t.Errorf("no %s event in %v", k, kinds)
		}
	}
}

// A restart keeps machines, images and sessions.
func TestRestartKeepsState(t *testing.T) {
	dir := t.TempDir()
	e := start(t, dir)
	e.login()
	e.expect(200, "PUT", "/machines/"+addr, jsonBody(provision.Settings{BootMode: "bty-tui", Labels: map[string]string{"k": "v"}}))
	e.expect(200, "PUT", "/images/a.img", strings.NewReader("abc"))
	u, _ := url.Parse(e.ts.URL)
	cookies := e.client.Jar.Cookies(u)
	e.ts.Close()
	e.srv.Close()

	e2 := start(t, dir)
	u2, _ := url.Parse(e2.ts.URL)
	e2.client.Jar.SetCookies(u2, cookies)
	b := e2.expect(200, "GET", "/machines/"+addr, nil)
	if !strings.Contains(string(b), `"boot_mode":"bty-tui"`) || !strings.Contains(string(b), `"k":"v"`) {
		t.Errorf("machine after restart: %s", b)
	}
	if b := e2.expect(200, "GET", "/images/"+catalog.Ref("file://a.img")+"/a.img", nil); string(b) != "abc" {
		t.Errorf("image after restart: %q", b)
	}
}

// 200 machines booting at once lose no event and no state.
func TestConcurrentMachines(t *testing.T) {
	e := start(t, t.TempDir())
	const n = 200
	var wg sync.WaitGroup
	errs := make(chan error, n)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: n}}
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m := fmt.Sprintf("52:54:00:00:%02x:%02x", i/256, i%256)
			var token string
			for _, step := range []struct {
				method, path, body string
				want               int
			}{
				{"GET", "/pxe/" + m, "", 200},
				{"GET", "/pxe/" + m + "/plan", "", 200},
				// In inventory mode, not flashing: a conflict, recorded.
				{"POST", "/pxe/" + m + "/status", `{"status":"failed","reason":"test"}`, 409},
				{"POST", "/pxe/" + m + "/inventory", `{"disks":[{"path":"/dev/vda","size":1}]}`, 204},
			} {
				req, _ := http.NewRequest(step.method, e.ts.URL+step.path, strings.NewReader(step.body))
				req.Header.Set("Authorization", "Bearer "+token)
				resp, err := client.Do(req)
				if err != nil {
					errs <- err
					return
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if tok := scriptToken.FindSubmatch(b); tok != nil {
					token = string(tok[1])
				}
				if resp.StatusCode != step.want {
					errs <- fmt.Errorf("%s %s = %d, want %d", step.method, step.path, resp.StatusCode, step.want)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	e.login()
	kinds := e.eventKinds()
	if kinds["pxe.offer"] != n || kinds["inventory"] != n || kinds["flash.status_refused"] != n {
		t.Errorf("events by kind = %v, want %d each of pxe.offer, inventory, flash.status_refused", kinds, n)
	}
	var machines []map[string]any
	json.Unmarshal(e.expect(200, "GET", "/machines", nil), &machines)
	if len(machines) != n {
		t.Errorf("%d machines stored, want %d", len(machines), n)
	}
}

// Files of the boot seed become boot files on start, but never replace an
// uploaded one.
func TestBootSeed(t *testing.T) {
	dir, seedDir := t.TempDir(), t.TempDir()
	os.WriteFile(filepath.Join(seedDir, "ipxe.efi"), []byte("seeded efi"), 0o644)
	os.WriteFile(filepath.Join(seedDir, "snponly.efi"), []byte("seeded snp"), 0o644)
	os.MkdirAll(filepath.Join(dir, "boot"), 0o755)
	os.WriteFile(filepath.Join(dir, "boot", "snponly.efi"), []byte("uploaded"), 0o644)
	cfg := testConfig(dir)
	cfg.Paths.BootSeed = seedDir
	srv, err := New(context.Background(), cfg, "1.4.0", slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	for name, want := range map[string]string{"ipxe.efi": "seeded efi", "snponly.efi": "uploaded"} {
		resp, err := http.Get(ts.URL + "/boot/" + name)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != want {
			t.Errorf("/boot/%s = %q, want %q", name, b, want)
		}
	}
}

// TestArchitectures: each machine gets the live trio of the architecture
// its chain script names, or a script that says why it cannot, and
// GET /machines shows what it said.
func TestArchitectures(t *testing.T) {
	e := start(t, t.TempDir())
	e.login()
	const arm = "52:54:00:aa:bb:01"
	script := string(e.expect(200, "GET", "/pxe/"+arm+"?arch=arm64&platform=efi", nil))
	for _, want := range []string{"no live system for arm64 machines here: upload bty-netboot-arm64-v1.4.0.vmlinuz", "exit"} {
		if !strings.Contains(script, want) {
			t.Errorf("arm64 without its trio: script lacks %q:\n%s", want, script)
		}
	}
	var m map[string]any
	json.Unmarshal(e.expect(200, "GET", "/machines/"+arm, nil), &m)
	if m["arch"] != "arm64" || m["firmware"] != "efi" || m["inventory_received"] != false {
		t.Errorf("machine after the refused boot: %v", m)
	}
	// A chain without the query (an older bootstrap script) keeps what the
	// machine said before.
	e.trio("arm64")
	script = string(e.expect(200, "GET", "/pxe/"+arm, nil))
	for _, want := range []string{"/boot/bty-netboot-arm64-v1.4.0.vmlinuz ", "console=ttyAMA0,115200", "/boot/bty-netboot-arm64-v1.4.0.initrd\n"} {
		if !strings.Contains(script, want) {
			t.Errorf("arm64 with its trio: script lacks %q:\n%s", want, script)
		}
	}
	// What a known machine says of itself waits for its live boot's first
	// report (issue 31: any GET stored a forged arch).
	e.expect(204, "POST", "/pxe/"+arm+"/inventory", jsonBody(map[string]any{"disks": []any{}}))
	e.expect(200, "GET", "/pxe/"+arm+"?arch=x86_64&platform=pcbios", nil)
	json.Unmarshal(e.expect(200, "GET", "/machines/"+arm, nil), &m)
	if m["arch"] != "arm64" || m["firmware"] != "efi" {
		t.Errorf("a GET changed the known machine's arch: %v", m)
	}

	const old = "52:54:00:aa:bb:02"
	if s := string(e.expect(200, "GET", "/pxe/"+old+"?arch=i386&platform=pcbios", nil)); !strings.Contains(s, "bty has no live system for i386 machines") || !strings.Contains(s, "sanboot") {
		t.Errorf("i386: %s", s)
	}
	e.expect(400, "GET", "/pxe/"+old+"?arch=%24%7Bevil%7D", nil)
	e.expect(400, "GET", "/pxe/"+old+"?platform=coreboot", nil)

	os.Remove(filepath.Join(e.dir, "boot", "bty-netboot-pc-x86_64-v1.4.0.initrd"))
	if s := string(e.expect(200, "GET", "/pxe/52:54:00:aa:bb:03?arch=x86_64&platform=efi", nil)); !strings.Contains(s, "no live system for x86_64 machines here") {
		t.Errorf("x86_64 without its initrd: %s", s)
	}
}

// GRUB's HTTP client sends Host without the port it connected to; the
// GRUB script's URLs carry that port anyway (without a public URL set),
// and the iPXE script still takes Host as it is.
func TestGRUBHostWithoutPort(t *testing.T) {
	e := startWith(t, t.TempDir(), func(c *config.Config) { c.Server.PublicURL = "" })
	u, _ := url.Parse(e.ts.URL)
	get := func(path, host string) string {
		req, _ := http.NewRequest("GET", e.ts.URL+path, nil)
		req.Host = host
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	e.login()
	e.expect(200, "PUT", "/machines/"+addr, jsonBody(provision.Settings{BootMode: "bty-tui"}))
	if s := get("/pxe/"+addr+"/grub", "bty.test"); !strings.Contains(s, "'(http,bty.test:"+u.Port()+")/boot/") || !strings.Contains(s, "bty.server=http://bty.test:"+u.Port()+" ") {
		t.Errorf("GRUB script for Host without a port:\n%s", s)
	}
	const other = "52:54:00:11:22:34" // addr's live boot is under way
	e.expect(200, "PUT", "/machines/"+other, jsonBody(provision.Settings{BootMode: "bty-tui"}))
	if s := get("/pxe/"+other, "bty.test"); !strings.Contains(s, "http://bty.test/boot/") {
		t.Errorf("iPXE script for Host without a port:\n%s", s)
	}
}
