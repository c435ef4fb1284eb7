// Package browser runs headless Chromium (Debian's chromium package) and
// drives it over the DevTools protocol with chromedp: the web UI's tests
// and the guide's screenshots see bty-web's pages as an operator's browser
// does, scripts and styles included.
package browser

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/chromedp/chromedp"
)

// names are the executables Chromium is installed as, in the order tried.
var names = []string{"chromium", "chromium-browser", "google-chrome"}

// Path finds Chromium on PATH or in /usr/bin (Bazel's test PATH may lack
// it).
func Path() (string, error) {
	for _, n := range names {
		if p, err := exec.LookPath(n); err == nil {
			return p, nil
		}
		if p := "/usr/bin/" + n; isExec(p) {
			return p, nil
		}
	}
	return "", errors.New("no Chromium found (chromium, chromium-browser or google-chrome); install it: apt-get install chromium")
}

func isExec(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

// Size is a browser window's size in CSS pixels.
type Size struct{ Width, Height int }

// Desktop and Phone are the window sizes the UI is checked and pictured at.
var (
	Desktop = Size{1280, 800}
	Phone   = Size{390, 844}
)

// Start launches headless Chromium with a fresh profile and returns a
// context whose chromedp actions run in its first tab; cancel closes the
// browser and removes the profile. The flags make its pictures
// repeatable: software rendering, no scrollbars, one device pixel per CSS
// pixel, no font hinting.
func Start(ctx context.Context, chromium string, size Size) (context.Context, context.CancelFunc, error) {
	dir, err := os.MkdirTemp("", "bty-chromium-")
	if err != nil {
		return nil, nil, err
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium),
		chromedp.UserDataDir(dir),
		chromedp.Env("HOME=" + dir),
		chromedp.Headless,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.DisableGPU,
		// Tests run as root in a chroot, where Chromium's sandbox cannot
		// start; the pages are our own.
		chromedp.NoSandbox,
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.Flag("force-device-scale-factor", "1"),
		chromedp.Flag("font-render-hinting", "none"),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-features", "Translate,MediaRouter,OptimizationHints"),
		chromedp.WindowSize(size.Width, size.Height),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	bctx, cancelBrowser := chromedp.NewContext(actx)
	cancel := func() {
		cancelBrowser()
		cancelAlloc()
		// Chromium's helpers may still be writing the profile as they
		// exit: try for a while.
		for i := 0; i < 50 && os.RemoveAll(dir) != nil; i++ {
			time.Sleep(100 * time.Millisecond)
		}
	}
	// The window's size bounds the page only on a desktop; the viewport is
	// set exactly, as a phone's would be.
	if err := chromedp.Run(bctx, chromedp.EmulateViewport(int64(size.Width), int64(size.Height))); err != nil {
		cancel()
		return nil, nil, fmt.Errorf("starting %s: %w", chromium, err)
	}
	return bctx, cancel, nil
}

// Capture takes a PNG of the window as it is, with no element focused (a
// blinking caret would make two pictures of one page differ).
func Capture(ctx context.Context) ([]byte, error) {
	var png []byte
	err := chromedp.Run(ctx,
		chromedp.Evaluate(`document.activeElement && document.activeElement.blur()`, nil),
		chromedp.CaptureScreenshot(&png),
	)
	return png, err
}

// Login logs in on bty-web's login page at base, from the keyboard, and
// waits for the machines page it leads to.
func Login(ctx context.Context, base, password string) error {
	return chromedp.Run(ctx, chromedp.Navigate(base+"/ui/login"), chromedp.WaitVisible("#password", chromedp.ByQuery),
		chromedp.SendKeys("#password", password+"\r", chromedp.ByQuery), chromedp.WaitVisible("table.machines", chromedp.ByQuery))
}

// WaitText waits until the first element matching the CSS selector sel
// shows a text containing want: pages change by themselves, so this polls
// what a person would see. It returns the text last seen.
func WaitText(ctx context.Context, sel, want string, timeout time.Duration) (string, error) {
	deadline := time.Now().Add(timeout)
	var got string
	for {
		js := fmt.Sprintf(`document.querySelector(%q)?.innerText ?? ""`, sel)
		err := chromedp.Run(ctx, chromedp.Evaluate(js, &got))
		if err == nil && strings.Contains(got, want) {
			return got, nil
		}
		if time.Now().After(deadline) {
			return got, fmt.Errorf("%s did not show %q within %s; it shows %q (%v)", sel, want, timeout, got, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
