// Package liveinit is the live environment's PID 1 (docs/design.md, "The
// live environment"): it mounts the pseudo filesystems and loads the kernel
// modules the initrd carries. Booted over the network (fetch= on the
// command line), it brings up the network with DHCP, fetches and mounts the
// squashfs and runs `bty auto` from it; booted from a USB stick or CD
// (usb.go), it finds the medium, grows and mounts BTY_IMAGES, and starts the
// operator's console program.
//
// PID 1 must never exit (the kernel would panic) and must never fail
// silently: every step prints what it does with a "bty-init:" prefix on the
// console, and a failing step is retried with backoff.
package liveinit

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4/nclient4"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/bty-lab/bty/bty/loopdev"
	"github.com/bty-lab/bty/bty/source"
)

// Cmdline holds the kernel command line parameters bty-init reads.
type Cmdline struct {
	Server string // bty.server=
	MAC    string // bty.mac=
	Fetch  string // fetch=
	// Token is the live boot's token (bty.token=) that bty auto's reports
	// carry: see provision.Session.
	Token string
}

// ParseCmdline reads the parameters from a kernel command line.
func ParseCmdline(s string) Cmdline {
	var c Cmdline
	for _, f := range strings.Fields(s) {
		k, v, _ := strings.Cut(f, "=")
		switch k {
		case "bty.server":
			c.Server = v
		case "bty.mac":
			c.MAC = strings.ToLower(v)
		case "fetch":
			c.Fetch = v
		case "bty.token":
			c.Token = v
		}
	}
	return c
}

// Init is one run of the live environment.
type Init struct {
	Out     io.Writer // the console
	Cmdline Cmdline
	// ModuleList names the modules to load, one path per line, in order.
	ModuleList string
	// LiveDir is where the squashfs is mounted.
	LiveDir string
	// Sys is where sysfs is mounted ("" means /sys).
	Sys string
	// FetchIdle is how long the squashfs download may receive nothing
	// before it is dropped and resumed or started over; 0 means 30 s.
	FetchIdle time.Duration
}

func (i *Init) say(format string, args ...any) {
	fmt.Fprintf(i.Out, "bty-init: "+format+"\n", args...)
}

// MountPseudo mounts /proc, /sys, /dev, /run and /tmp.
func MountPseudo() error {
	for _, m := range []struct{ src, dir, fstype string }{
		{"proc", "/proc", "proc"},
		{"sysfs", "/sys", "sysfs"},
		{"devtmpfs", "/dev", "devtmpfs"},
		{"tmpfs", "/run", "tmpfs"},
		{"tmpfs", "/tmp", "tmpfs"},
	} {
		if err := os.MkdirAll(m.dir, 0o755); err != nil {
			return err
		}
		if err := unix.Mount(m.src, m.dir, m.fstype, 0, ""); err != nil && !errors.Is(err, unix.EBUSY) {
			return fmt.Errorf("mounting %s: %w", m.dir, err)
		}
	}
	return nil
}

// LoadModules loads each module of the list; one that fails is reported and
// skipped (the hardware it drives may simply be absent).
func (i *Init) LoadModules() {
	b, err := os.ReadFile(i.ModuleList)
	if err != nil {
		i.say("no module list (%v); relying on built-in drivers", err)
		return
	}
	list := strings.Fields(string(b))
	loaded := 0
	for _, p := range list {
		f, err := os.Open(p)
		if err != nil {
			i.say("module %s: %v", p, err)
			continue
		}
		err = unix.FinitModule(int(f.Fd()), "", 0)
		f.Close()
		if err != nil && !errors.Is(err, unix.EEXIST) {
			i.say("module %s: %v", filepath.Base(p), err)
			continue
		}
		loaded++
	}
	// Both counts, so a console (and a test) can tell "every driver" from
	// "some drivers" by what is printed, not by an error's absence.
	i.say("loaded %d of %d kernel modules", loaded, len(list))
}

// pickLink finds the NIC to use: the one with bty.mac, else the first
// Ethernet interface with link (carrier), waiting up to a deadline for
// drivers to create it and for cables to negotiate.
func (i *Init) pickLink(ctx context.Context) (netlink.Link, error) {
	for {
		links, err := netlink.LinkList()
		if err != nil {
			return nil, err
		}
		var first, withLink netlink.Link
		for _, l := range links {
			a := l.Attrs()
			if a.Name == "lo" || len(a.HardwareAddr) != 6 {
				continue
			}
			if i.Cmdline.MAC != "" && strings.EqualFold(a.HardwareAddr.String(), i.Cmdline.MAC) {
				return l, nil
			}
			// Carrier is only reported for interfaces that are up.
			netlink.LinkSetUp(l)
			if first == nil {
				first = l
			}
			if withLink == nil && hasCarrier(a.Name) {
				withLink = l
			}
		}
		if i.Cmdline.MAC == "" && withLink != nil {
			return withLink, nil
		}
		select {
		case <-ctx.Done():
			if first != nil {
				i.say("no interface has MAC %s or link; using %s", i.Cmdline.MAC, first.Attrs().Name)
				return first, nil
			}
			return nil, errors.New("no network interface appeared; is the NIC's driver in the initrd?")
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func hasCarrier(name string) bool {
	b, err := os.ReadFile("/sys/class/net/" + name + "/carrier")
	return err == nil && strings.TrimSpace(string(b)) == "1"
}

// Network brings up the NIC with DHCP and returns its address.
func (i *Init) Network(ctx context.Context) (net.IP, error) {
	if lo, err := netlink.LinkByName("lo"); err == nil {
		netlink.LinkSetUp(lo)
	}
	wait, cancel := context.WithTimeout(ctx, 20*time.Second)
	link, err := i.pickLink(wait)
	cancel()
	if err != nil {
		return nil, err
	}
	name := link.Attrs().Name
	if err := netlink.LinkSetUp(link); err != nil {
		return nil, fmt.Errorf("bringing up %s: %w", name, err)
	}
	client, err := nclient4.New(name, nclient4.WithTimeout(4*time.Second), nclient4.WithRetry(3))
	if err != nil {
		return nil, fmt.Errorf("DHCP on %s: %w", name, err)
	}
	defer client.Close()
	lease, err := client.Request(ctx)
	if err != nil {
		return nil, fmt.Errorf("DHCP on %s: %w", name, err)
	}
	ack := lease.ACK
	ipnet := &net.IPNet{IP: ack.YourIPAddr, Mask: ack.SubnetMask()}
	if ipnet.Mask == nil {
		ipnet.Mask = net.CIDRMask(24, 32)
	}
	if err := netlink.AddrReplace(link, &netlink.Addr{IPNet: ipnet}); err != nil {
		return nil, fmt.Errorf("setting %s on %s: %w", ipnet, name, err)
	}
	if routers := ack.Router(); len(routers) > 0 {
		if err := netlink.RouteReplace(&netlink.Route{LinkIndex: link.Attrs().Index, Gw: routers[0]}); err != nil {
			return nil, fmt.Errorf("default route via %s: %w", routers[0], err)
		}
	}
	i.say("%s (%s) got %s from %s", name, link.Attrs().HardwareAddr, ipnet, ack.ServerIPAddr)
	return ack.YourIPAddr, nil
}

// Fetch downloads url to dst, printing progress at each quarter. A
// dropped transfer resumes at its offset when the server proves it is the
// same file (package source: Range with If-Range); otherwise Fetch fails
// and PrepareNetboot starts it over from byte 0 (dst is created anew).
// A server that goes silent for FetchIdle is given up on, not waited for.
func (i *Init) Fetch(ctx context.Context, url, dst string) error {
	src, err := source.OpenHTTP(ctx, url, source.HTTPOptions{
		MaxResumes: 3, Backoff: time.Second, IdleTimeout: cmp.Or(i.FetchIdle, 30*time.Second),
		Log: func(format string, args ...any) { i.say(format, args...) },
	})
	if err != nil {
		return err
	}
	defer src.Close()
	f, err := os.Create(dst)
	if err != nil {
		return err
	}
	defer f.Close()
	var n int64
	next := int64(1)
	buf := make([]byte, 1<<20)
	for {
		m, rerr := src.Read(buf)
		if m > 0 {
			if _, err := f.Write(buf[:m]); err != nil {
				return err
			}
			n += int64(m)
			for src.Size > 0 && next <= 4 && n*4 >= next*src.Size {
				i.say("fetch %d%%", next*25)
				next++
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return fmt.Errorf("GET %s after %d bytes: %w", url, n, rerr)
		}
	}
	if src.Size >= 0 && n != src.Size {
		return fmt.Errorf("GET %s: got %d of %d bytes", url, n, src.Size)
	}
	if src.Size < 0 {
		i.say("fetched %d bytes", n)
	}
	return f.Close()
}

// MountSquashfs mounts the image read-only at dir through a loop device.
func MountSquashfs(image, dir string) error {
	dev, err := loopdev.AttachWith(image, loopdev.Options{ReadOnly: true})
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := unix.Mount(dev.Path, dir, "squashfs", unix.MS_RDONLY, ""); err != nil {
		dev.Detach()
		return fmt.Errorf("mounting %s (%s) on %s: %w", image, dev.Path, dir, err)
	}
	return nil
}

// retry runs step until it succeeds, waiting longer after each failure.
func (i *Init) retry(ctx context.Context, what string, step func() error) {
	wait := time.Second
	for attempt := 1; ; attempt++ {
		err := step()
		if err == nil {
			return
		}
		i.say("%s failed (attempt %d): %v; retrying in %s", what, attempt, err, wait)
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(wait*2, 30*time.Second)
	}
}

// PrepareNetboot runs everything up to a mounted live root when booted
// over the network: DHCP, then the squashfs named by fetch=. It returns
// only when the live root is mounted.
func (i *Init) PrepareNetboot(ctx context.Context) {
	i.retry(ctx, "network", func() error { _, err := i.Network(ctx); return err })
	image := "/run/bty-live.squashfs"
	i.retry(ctx, "fetching "+i.Cmdline.Fetch, func() error { return i.Fetch(ctx, i.Cmdline.Fetch, image) })
	i.retry(ctx, "mounting the squashfs", func() error { return MountSquashfs(image, i.LiveDir) })
	i.say("squashfs %s mounted", i.Cmdline.Fetch)
}
