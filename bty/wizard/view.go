package wizard

import (
	"fmt"
	"strings"
	"time"

	"github.com/bty-lab/bty/bty/progress"
)

// width is the screen width the wizard draws for: a serial console's 80
// columns, which the Linux VT also has at least.
const width = 80

// View draws the current screen in plain ASCII.
func (m *Model) View() string {
	var b strings.Builder
	titles := map[step]string{stepImages: "1/4 image", stepDisks: "2/4 disk", stepConfirm: "3/4 confirm", stepFlashing: "4/4 flash", stepResult: "done"}
	head := "bty v" + m.env.Version + " - flash a disk"
	fmt.Fprintf(&b, "%s%*s\n%s\n", head, width-len(head), "["+titles[m.step]+"]", strings.Repeat("=", width))
	switch m.step {
	case stepImages:
		m.viewImages(&b)
	case stepDisks:
		m.viewDisks(&b)
	case stepConfirm:
		m.viewConfirm(&b)
	case stepFlashing:
		m.viewFlashing(&b)
	case stepResult:
		m.viewResult(&b)
	}
	if m.note != "" {
		b.WriteString("\n! " + clip(m.note, width-2) + "\n")
	}
	return b.String()
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-3] + "..."
}

func size(n int64) string {
	if n < 0 {
		return "-"
	}
	return progress.Bytes(n)
}

// line draws one choosable line: cursor, number (1-9 pick directly), text.
func (m *Model) line(b *strings.Builder, i int, text string) {
	cur := "  "
	if i == m.cursor {
		cur = "> "
	}
	num := "  "
	if i < 9 {
		num = fmt.Sprintf("%d ", i+1)
	}
	b.WriteString(clip(cur+num+text, width) + "\n")
}

func (m *Model) viewImages(b *strings.Builder) {
	fmt.Fprintf(b, "Pick the image to write. Images in %s:\n\n", m.env.ImageRoot)
	if len(m.images) == 0 {
		b.WriteString("  (none: copy .img, .img.gz, .img.zst, .img.xz, .img.bz2 or .qcow2 files\n   onto the stick's BTY_IMAGES partition, or a catalog.toml)\n")
	}
	remoteShown := false
	for i, img := range m.images {
		if img.Remote && !remoteShown {
			b.WriteString("\nFrom catalog.toml (fetched over the network):\n")
			remoteShown = true
		}
		check := "no sha256"
		switch {
		case img.Problem != "":
			check = "bad .sha256"
		case img.SHA256 != "":
			check = "sha256 known"
		}
		if img.Remote {
			check += ", needs network"
		}
		m.line(b, i, fmt.Sprintf("%-26s %-8s %10s  %s", clip(img.Name, 26), img.Format, size(img.Size), check))
	}
	if m.problem != "" {
		b.WriteString("\n" + clip("! "+m.problem, width) + "\n")
	}
	b.WriteString("\nup/down or j/k move, 1-9 pick, Enter choose, q quit\n")
}

func (m *Model) viewDisks(b *strings.Builder) {
	fmt.Fprintf(b, "Image: %s (%s, %s). Pick the disk to erase:\n\n", m.image.Name, m.image.Format, size(m.image.Size))
	if len(m.disks) == 0 {
		b.WriteString("  (no disks found)\n")
	}
	for i, t := range m.disks {
		serial := t.Serial
		if serial == "" {
			serial = "-"
		}
		m.line(b, i, fmt.Sprintf("%-8s %10s  %-6s %-16s serial %s", t.Name, progress.Bytes(t.Size), orDash(t.Transport), clip(orDash(t.Model), 16), serial))
		if t.Why != "" {
			b.WriteString(clip("       cannot use: "+t.Why, width) + "\n")
		}
	}
	b.WriteString("\nup/down or j/k move, 1-9 pick, Enter choose, Esc or q back\n")
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func (m *Model) viewConfirm(b *strings.Builder) {
	t := m.target
	fmt.Fprintf(b, "Write %s onto %s (%s, %s, %s, serial %s)?\n\n", m.image.Name, t.Path, progress.Bytes(t.Size), orDash(t.Transport), orDash(t.Model), t.Serial)
	fmt.Fprintf(b, "EVERYTHING ON %s WILL BE LOST.\n\n", t.Name)
	fmt.Fprintf(b, "Type the disk's serial (or its last 4 characters) and press Enter:\n\n  %s_\n", m.typed)
	b.WriteString("\nEsc goes back (q too, while nothing is typed)\n")
}

// bar draws one stage's progress: bar, percent, bytes, rate, time left.
func bar(name string, u progress.Update) string {
	if u.Stage == "" {
		return fmt.Sprintf("%-8s waiting", name)
	}
	const w = 24
	f := max(u.Fraction, 0)
	filled := int(f * w)
	rate, eta := "", ""
	if s := u.Elapsed.Seconds(); s > 0.5 && u.Done > 0 {
		r := float64(u.Done) / s
		rate = progress.Bytes(int64(r)) + "/s"
		if u.Fraction > 0 && u.Fraction < 1 {
			eta = "ETA " + (time.Duration(s*(1-u.Fraction)/u.Fraction) * time.Second).Round(time.Second).String()
		}
	}
	pct := "  ?%"
	if u.Fraction >= 0 {
		pct = fmt.Sprintf("%3d%%", int(f*100))
	}
	return strings.TrimRight(fmt.Sprintf("%-8s [%s%s] %s %s %s %s", name, strings.Repeat("#", filled), strings.Repeat(".", w-filled), pct, progress.Bytes(u.Done), rate, eta), " ")
}

func (m *Model) viewFlashing(b *strings.Builder) {
	fmt.Fprintf(b, "Writing %s onto %s (serial %s). Do not power off.\n\n", m.image.Name, m.target.Path, m.target.Serial)
	b.WriteString(bar("download", m.download) + "\n")
	b.WriteString(bar("write", m.write) + "\n")
}

func (m *Model) viewResult(b *strings.Builder) {
	r := m.result
	switch {
	case r.err != nil:
		b.WriteString("FAILED: " + r.err.Error() + "\n\n")
		if failedWrite(r.err) {
			fmt.Fprintf(b, "%s holds partial or unverified data: do not boot it; pick again to rewrite it.\n", m.target.Name)
		} else {
			fmt.Fprintf(b, "Nothing was written to %s.\n", m.target.Name)
		}
	case m.image.SHA256 != "":
		fmt.Fprintf(b, "VERIFIED: %s written onto %s, sha256 %s matches.\n", progress.Bytes(r.res.Written), m.target.Name, r.res.SHA256[:16]+"...")
	default:
		fmt.Fprintf(b, "UNVERIFIED: %s written onto %s; no sha256 is known for %s\n(put NAME.sha256 beside the image to have it checked).\n", progress.Bytes(r.res.Written), m.target.Name, m.image.Name)
	}
	if r.err == nil {
		fmt.Fprintf(b, "Took %s.\n", r.res.Elapsed.Round(100*time.Millisecond))
	}
	b.WriteString("\nr reboot (remove the stick to boot the new system), p pick again, q quit\n")
}
