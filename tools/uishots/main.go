// Command uishots makes the user guide's pictures of bty-web's web UI:
//
//	uishots -out DIR [-chromium PATH]
//
// It runs a bty-web (this build's, in process) on loopback with a fixed
// clock and a small lab in its state (machines flashing, flashed and new;
// an uploaded and a remote image), drives headless Chromium through each
// page as an operator would, and writes one PNG per page into DIR:
// ui-login.png, ui-machines.png, ui-machine.png, ui-confirm.png,
// ui-images.png, ui-setup.png at 1280x800 and ui-machines-phone.png at
// 390x844. The same inputs give the same pictures.
package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/bty-lab/bty/bty/config"
	"github.com/bty-lab/bty/bty/provision"
	"github.com/bty-lab/bty/bty/version"
	"github.com/bty-lab/bty/bty/web"
	"github.com/bty-lab/bty/internal/browser"
	"github.com/bty-lab/bty/internal/webclient"
)

func main() {
	out := flag.String("out", "", "directory to write the PNGs into (created)")
	chromium := flag.String("chromium", "", "Chromium's executable (default: found on PATH)")
	flag.Parse()
	if *out == "" {
		fmt.Fprintln(os.Stderr, "uishots: -out DIR is required")
		os.Exit(2)
	}
	if err := run(*out, *chromium); err != nil {
		fmt.Fprintln(os.Stderr, "uishots:", err)
		os.Exit(1)
	}
}

// The lab in the pictures: documentation addresses (RFC 5737) and a fixed
// day, so that nothing in them depends on when or where they were made.
const (
	password  = "guide-pictures"
	publicURL = "http://192.0.2.10:8080"
	flashing  = "52:54:00:0a:00:01"
	flashed   = "52:54:00:0a:00:02"
	fresh     = "52:54:00:0a:00:03"
)

// clock starts at a fixed time and moves one second per reading.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(time.Second)
	return c.t
}

func run(out, chromium string) error {
	if chromium == "" {
		var err error
		if chromium, err = browser.Path(); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "uishots-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	cfg := config.Defaults()
	cfg.Admin.Password, cfg.Paths.StateDir, cfg.Paths.BootSeed = password, filepath.Join(tmp, "state"), ""
	cfg.Server.PublicURL = publicURL
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	srv, err := web.New(ctx, cfg, version.String(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		return err
	}
	defer srv.Close()
	clk := &clock{t: time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)}
	srv.SetClock(clk.now)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: srv.Handler()}
	go hs.Serve(ln)
	defer hs.Close()
	base := "http://" + ln.Addr().String()
	if err := seed(base); err != nil {
		return fmt.Errorf("preparing the lab: %w", err)
	}

	shoot := func(size browser.Size, steps func(ctx context.Context, save func(string) error) error) error {
		bctx, stop, err := browser.Start(ctx, chromium, size)
		if err != nil {
			return err
		}
		defer stop()
		return steps(bctx, func(name string) error {
			png, err := browser.Capture(bctx)
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			return os.WriteFile(filepath.Join(out, name), png, 0o644)
		})
	}
	err = shoot(browser.Desktop, func(b context.Context, save func(string) error) error {
		if err := chromedp.Run(b, chromedp.Navigate(base+"/ui/login"), chromedp.WaitVisible("#password")); err != nil {
			return err
		}
		if err := save("ui-login.png"); err != nil {
			return err
		}
		if err := login(b); err != nil {
			return err
		}
		for _, p := range []struct{ path, ready, file string }{
			{"/ui/machines", "#m-" + strings.ReplaceAll(flashing, ":", "-"), "ui-machines.png"},
			{"/ui/machines/" + flashing, "#live", "ui-machine.png"},
			{"/ui/images", "#upload-form", "ui-images.png"},
			{"/ui/setup", "pre", "ui-setup.png"},
		} {
			if err := chromedp.Run(b, chromedp.Navigate(base+p.path), chromedp.WaitVisible(p.ready)); err != nil {
				return fmt.Errorf("%s: %w", p.path, err)
			}
			if err := save(p.file); err != nil {
				return err
			}
		}
		// The confirmation a flash mode asks for: choose the mode on the
		// new machine's page and save.
		err := chromedp.Run(b, chromedp.Navigate(base+"/ui/machines/"+fresh), chromedp.WaitVisible("#mode"),
			chromedp.SetValue("#mode", string(provision.ModeFlashOnce)),
			chromedp.SetValue("#serial", "S3KNX0R812345"),
			chromedp.Evaluate(`document.querySelector("#image").selectedIndex = 1`, nil),
			chromedp.Click(`form.settings button[type=submit]`),
			chromedp.WaitVisible("form.confirm"))
		if err != nil {
			return fmt.Errorf("confirmation: %w", err)
		}
		return save("ui-confirm.png")
	})
	if err != nil {
		return err
	}
	return shoot(browser.Phone, func(b context.Context, save func(string) error) error {
		if err := chromedp.Run(b, chromedp.Navigate(base+"/ui/login"), chromedp.WaitVisible("#password")); err != nil {
			return err
		}
		if err := login(b); err != nil {
			return err
		}
		return save("ui-machines-phone.png")
	})
}

// login logs in from the login page with the keyboard.
func login(b context.Context) error {
	return chromedp.Run(b, chromedp.SendKeys("#password", password+"\r"), chromedp.WaitVisible("table.machines"))
}

// seed makes the lab through the API, as an operator and machines would.
func seed(base string) error {
	op, err := webclient.Login(base, password)
	if err != nil {
		return err
	}
	if err := op.PutLiveStandIns("x86_64"); err != nil {
		return err
	}
	img := make([]byte, 64<<10)
	for i := range img {
		img[i] = byte(i * 7)
	}
	up, err := op.PutImage("debian-13-amd64.img", img)
	if err != nil {
		return err
	}
	if _, err := op.AddEntry("ubuntu-24.04-server.img.xz", "https://images.example.org/ubuntu-24.04-server.img.xz", strings.Repeat("5e", 32)); err != nil {
		return err
	}
	disk := func(serial, model string, size int64) provision.InventoryDisk {
		return provision.InventoryDisk{Path: "/dev/nvme0n1", Size: size, Model: model, Serial: serial}
	}
	lab := []struct {
		mac, name, serial string
		report            []provision.Status
	}{
		{flashed, "rack1-node02", "S3KNX0R800002", []provision.Status{{Status: provision.StatusDone, SHA256: up.SHA256}}},
		{flashing, "rack1-node01", "S3KNX0R800001", []provision.Status{
			{Status: provision.StatusProgress, Stage: "write", Done: 9 << 30, Total: 21474836480, Fraction: 0.42, Elapsed: 61}}},
		{fresh, "", "", nil},
	}
	for _, l := range lab {
		m := webclient.NewMachine(base, l.mac)
		if _, err := m.Boot(); err != nil {
			return err
		}
		if err := m.Inventory(disk(cmp.Or(l.serial, "S3KNX0R812345"), "SAMSUNG MZQL21T9", 1920383410176)); err != nil {
			return err
		}
		if l.report == nil {
			continue
		}
		if err := op.Save(l.mac, provision.ModeFlashOnce, up.Ref, l.serial, map[string]string{"name": l.name}); err != nil {
			return err
		}
		script, err := m.Boot()
		if err != nil {
			return err
		}
		if err := m.FetchLive(script); err != nil {
			return err
		}
		for _, st := range l.report {
			if err := m.Report(st); err != nil {
				return err
			}
		}
	}
	if ms, err := op.Machine(flashing); err != nil || ms.Flash.State != provision.FlashRunning {
		return errors.Join(err, fmt.Errorf("the flashing machine is %q", ms.Flash.State))
	}
	return nil
}
