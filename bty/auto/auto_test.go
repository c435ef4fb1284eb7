package auto

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bty-lab/bty/bty/catalog"
	"github.com/bty-lab/bty/bty/config"
	"github.com/bty-lab/bty/bty/disk/disktest"
	"github.com/bty-lab/bty/bty/gpt"
	"github.com/bty-lab/bty/bty/imagetest"
	"github.com/bty-lab/bty/bty/progress"
	"github.com/bty-lab/bty/bty/provision"
	"github.com/bty-lab/bty/bty/pxescript"
	"github.com/bty-lab/bty/bty/seed"
	"github.com/bty-lab/bty/bty/web"
	"github.com/bty-lab/bty/internal/testenv"
	"github.com/bty-lab/bty/internal/webclient"
)

// server runs a real bty-web on an ephemeral port and returns its URL and a
// client logged in as the operator.
func server(t *testing.T) (string, *http.Client) {
	return serverWith(t, func(h http.Handler) http.Handler { return h })
}

// serverWith is server with wrap around bty-web's handler (to watch the
// requests it gets).
func serverWith(t *testing.T, wrap func(http.Handler) http.Handler) (string, *http.Client) {
	t.Helper()
	cfg := config.Defaults()
	cfg.Admin.Password, cfg.Paths.StateDir, cfg.Paths.BootSeed = "pw", t.TempDir(), ""
	srv, err := web.New(context.Background(), cfg, "1.4.0", slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	ts := httptest.NewServer(wrap(srv.Handler()))
	t.Cleanup(ts.Close)
	return ts.URL, testenv.Login(t, ts.URL, "pw")
}

// A real bty-web tells bty auto to flash; the disk gets the image, the
// server hears its progress while it writes and then "done" with the
// verified digest, so the next PXE boot is from disk.
func TestFlashAgainstRealServer(t *testing.T) {
	var mu sync.Mutex
	var reports []provision.Status
	base, c := serverWith(t, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.HasPrefix(r.URL.Path, "/images/") && r.Method == http.MethodGet {
				trickle(w, r, h)
				return
			}
			if strings.HasSuffix(r.URL.Path, "/status") {
				b, _ := io.ReadAll(r.Body)
				var st provision.Status
				json.Unmarshal(b, &st)
				mu.Lock()
				reports = append(reports, st)
				mu.Unlock()
				r.Body = io.NopCloser(bytes.NewReader(b))
			}
			h.ServeHTTP(w, r)
		})
	})
	raw := imagetest.Disk(3<<20, 9)
	img := imagetest.Encode(t, catalog.Zstd, raw)
	up := putImage(t, c, base, "test.img.zst", img)
	body, _ := json.Marshal(map[string]any{"boot_mode": "bty-flash-always", "bty_image_ref": up.Ref, "target_disk_serial": "BTYTEST"})
	req, _ := http.NewRequest("PUT", base+"/machines/52:54:00:11:22:33", bytes.NewReader(body))
	if resp, err := c.Do(req); err != nil || resp.StatusCode != 200 {
		t.Fatalf("machine: %v %v", err, resp)
	}

	// The machine PXE-boots as iPXE would: its script hands the live
	// environment the token its reports must carry.
	token := bootLive(t, c, base, "52:54:00:11:22:33")

	sys, dev := disktest.OneDisk(t, "BTYTEST", 8<<20, 0)
	var out bytes.Buffer
	err := Run(context.Background(), Options{Server: base, MAC: "52:54:00:11:22:33", Token: token, Progress: progress.New(&out, false), System: sys, ProgressEvery: time.Millisecond})
	if err != nil {
		t.Fatalf("auto: %v\n%s", err, out.String())
	}
	mu.Lock()
	var progressed int
	for _, st := range reports[:len(reports)-1] {
		if st.Status != provision.StatusProgress || st.Stage == "" || st.Fraction < 0 || st.Fraction > 1 {
			t.Errorf("report before the last: %+v", st)
		}
		progressed++
	}
	last := reports[len(reports)-1]
	mu.Unlock()
	if progressed == 0 || last.Status != provision.StatusDone || last.SHA256 != up.SHA256 {
		t.Errorf("%d progress reports, then %+v (want done with sha256 %s)", progressed, last, up.SHA256)
	}
	var m provision.Machine
	if resp, err := c.Get(base + "/machines/52:54:00:11:22:33"); err == nil {
		json.NewDecoder(resp.Body).Decode(&m)
		resp.Body.Close()
	}
	if m.Flash.State != provision.FlashVerified || m.Flash.SHA256 != up.SHA256 {
		t.Errorf("the machine's flash: %+v", m.Flash)
	}
	for _, m := range []string{"bty: entered v", "bty: auto-flash starting", "bty: download 100%", "bty: write 50%", "bty: write 100%", "bty: flash complete; rebooting"} {
		if !strings.Contains(out.String(), m) {
			t.Errorf("no %q in:\n%s", m, out.String())
		}
	}
	got, _ := os.ReadFile(dev)
	if !bytes.Equal(got[:len(raw)], raw) {
		t.Error("disk does not hold the image")
	}
	resp, _ := http.Get(base + "/pxe/52:54:00:11:22:33")
	script, _ := io.ReadAll(resp.Body)
	if !strings.Contains(string(script), "booting the local disk") {
		t.Errorf("after a reported flash the next boot is not local:\n%s", script)
	}
}

// trickle serves h's answer to r in ten parts 20 ms apart, so that a
// download spans many progress ticks.
func trickle(w http.ResponseWriter, r *http.Request, h http.Handler) {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	body := rec.Body.Bytes()
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.Code)
	part := len(body)/10 + 1
	for len(body) > 0 {
		n := min(part, len(body))
		w.Write(body[:n])
		w.(http.Flusher).Flush()
		body = body[n:]
		time.Sleep(20 * time.Millisecond)
	}
}

func TestNoServer(t *testing.T) {
	var out bytes.Buffer
	err := Run(context.Background(), Options{Server: "http://127.0.0.1:1", MAC: "52:54:00:11:22:33", Progress: progress.New(&out, false), PlanTries: 1})
	if err == nil || !strings.Contains(err.Error(), "no plan") {
		t.Errorf("err = %v", err)
	}
}

// In bty-inventory mode the live environment reports its disks; the server
// stores them and sends the machine to its disk once.
func TestInventoryAgainstRealServer(t *testing.T) {
	base, c := server(t)
	token := bootLive(t, c, base, "52:54:00:11:22:33") // an unknown machine starts in bty-inventory
	sys, _ := disktest.OneDisk(t, "BTYTEST", 8<<20, 0)
	var out bytes.Buffer
	// Without the token bty-web refuses the plan, at once.
	err := Run(context.Background(), Options{Server: base, MAC: "52:54:00:11:22:33", Progress: progress.New(&out, false), System: sys})
	if err == nil || !strings.Contains(err.Error(), "403") || strings.Contains(out.String(), "retrying") {
		t.Fatalf("without the token: %v\n%s", err, out.String())
	}
	if err := Run(context.Background(), Options{Server: base, MAC: "52:54:00:11:22:33", Token: token, Progress: progress.New(&out, false), System: sys}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "bty: inventory of 1 disks sent") {
		t.Errorf("output:\n%s", out.String())
	}
	resp, err := c.Get(base + "/machines/52:54:00:11:22:33")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	if !strings.Contains(string(b), `"serial":"BTYTEST"`) || !strings.Contains(string(b), `"inventory_received":true`) {
		t.Errorf("stored machine: %s", b)
	}
}

// bootLive uploads a stand-in live trio and asks for the machine's boot
// script as iPXE does; it returns the live boot's token the script hands
// the live environment.
func bootLive(t *testing.T, c *http.Client, base, mac string) string {
	t.Helper()
	nb, _ := pxescript.NetbootFor("1.4.0", "x86_64")
	for _, name := range nb.Files() {
		req, _ := http.NewRequest("PUT", base+"/boot/"+name, strings.NewReader("stand-in"))
		if resp, err := c.Do(req); err != nil || resp.StatusCode != 200 {
			t.Fatalf("boot file: %v %v", err, resp)
		}
	}
	m := webclient.NewMachine(base, mac)
	script, err := m.Boot()
	if err != nil || m.Token == "" {
		t.Fatalf("boot script without a token: %v\n%s", err, script)
	}
	return m.Token
}

// A GPT image on a larger disk: after the flash, bty auto writes the
// machine's cloud-init seed (bty-web's, for this deployment) at the disk's
// end, reports it, and bty-web then waits for the installed system.
func TestFlashWritesSeed(t *testing.T) {
	base, c := server(t)
	raw := imagetest.GPTDisk(t, 4<<20, 5)
	up := putImage(t, c, base, "os.img.zst", imagetest.Encode(t, catalog.Zstd, raw))
	body, _ := json.Marshal(map[string]any{"boot_mode": "bty-flash-once", "bty_image_ref": up.Ref, "target_disk_serial": "BTYTEST",
		"labels": map[string]string{"hostname": "web1"}})
	req, _ := http.NewRequest("PUT", base+"/machines/52:54:00:11:22:33", bytes.NewReader(body))
	if resp, err := c.Do(req); err != nil || resp.StatusCode != 200 {
		t.Fatalf("machine: %v %v", err, resp)
	}
	token := bootLive(t, c, base, "52:54:00:11:22:33")
	sys, dev := disktest.OneDisk(t, "BTYTEST", 32<<20, 0)
	var out bytes.Buffer
	if err := Run(context.Background(), Options{Server: base, MAC: "52:54:00:11:22:33", Token: token, Progress: progress.New(&out, false), System: sys}); err != nil {
		t.Fatalf("auto: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "bty: cloud-init seed written: partition 2 (CIDATA") {
		t.Errorf("no seed marker:\n%s", out.String())
	}
	f, err := os.Open(dev)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tab, err := gpt.Read(f)
	if err != nil || len(tab.Partitions) != 2 || tab.Partitions[1].Name != seed.Label {
		t.Fatalf("the disk's table: %+v, %v", tab, err)
	}
	vol := make([]byte, tab.Partitions[1].Sectors()*512)
	f.ReadAt(vol, int64(tab.Partitions[1].First)*512)
	if !bytes.Contains(vol, []byte("local-hostname: web1")) || !bytes.Contains(vol, []byte("phone_home:")) {
		t.Error("the seed does not hold this machine's meta-data and user-data")
	}
	var m provision.Machine
	if resp, err := c.Get(base + "/machines/52:54:00:11:22:33"); err == nil {
		json.NewDecoder(resp.Body).Decode(&m)
		resp.Body.Close()
	}
	if state, _ := m.Lifecycle(); state != "rebooting" || !bytes.Contains(vol, []byte(m.Deployment.InstanceID)) {
		t.Errorf("bty-web: %s, deployment %+v", state, m.Deployment)
	}
}

// putImage uploads an image as the operator.
func putImage(t *testing.T, c *http.Client, base, name string, data []byte) struct{ Ref, SHA256 string } {
	t.Helper()
	req, _ := http.NewRequest("PUT", base+"/images/"+name, bytes.NewReader(data))
	resp, err := c.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("upload: %v %v", err, resp)
	}
	defer resp.Body.Close()
	var up struct{ Ref, SHA256 string }
	json.NewDecoder(resp.Body).Decode(&up)
	return up
}
