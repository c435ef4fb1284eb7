package fleet

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/bty-lab/bty/bty/api"
	"github.com/bty-lab/bty/bty/provision"
	"github.com/bty-lab/bty/bty/pxescript"
	"github.com/bty-lab/bty/bty/version"
	"github.com/bty-lab/bty/internal/freeport"
	"github.com/bty-lab/bty/internal/ocirun"
	"github.com/bty-lab/bty/internal/postgres"
	"github.com/bty-lab/bty/internal/webclient"
)

// Sizes are the sizes of the files a machine fetches, about those of
// bty's x86_64 trio and a small disk image.
type Sizes struct{ Kernel, Initrd, Squashfs, Image int64 }

// DefaultSizes are the bench's defaults.
var DefaultSizes = Sizes{Kernel: 8 << 20, Initrd: 5 << 20, Squashfs: 4 << 20, Image: 16 << 20}

// Lab is bty-web and bty-tftp running from their OCI images on loopback,
// and nginx serving the same files as the anchor, all under dir.
type Lab struct {
	BTY, Anchor Target
	WebPIDs     []int // bty-web's processes, for their memory and descriptors
	AnchorPIDs  []int // nginx's master and workers, sampled the same way
	procs       []*exec.Cmd
	stops       []func()
}

// Images are the OCI layouts (an oci_index target's outputs) to run.
type Images struct{ Web, TFTP []string }

const password = "fleet-bench"

// Start runs the lab for n machines: the servers, the files (random bytes
// of the given sizes, the same on both), the machines registered in
// bty-flash-always with the image. Stop ends it.
func Start(dir string, imgs Images, sizes Sizes, n, replicas int) (*Lab, error) {
	l := &Lab{}
	ok := false
	defer func() {
		if !ok {
			l.Stop()
		}
	}()
	nb, err := pxescript.NetbootFor(version.String(), "x86_64")
	if err != nil {
		return nil, err
	}
	docroot := filepath.Join(dir, "www")
	files := map[string]int64{
		"boot/" + nb.Kernel: sizes.Kernel, "boot/" + nb.Initrd: sizes.Initrd, "boot/" + nb.Squashfs: sizes.Squashfs,
		"images/fleet.img": sizes.Image,
	}
	sums := map[string]string{}
	rng := rand.NewChaCha8([32]byte{'b', 't', 'y'})
	for _, name := range []string{"boot/" + nb.Kernel, "boot/" + nb.Initrd, "boot/" + nb.Squashfs, "images/fleet.img"} {
		data := make([]byte, files[name])
		rng.Read(data)
		sum := sha256.Sum256(data)
		sums[name] = hex.EncodeToString(sum[:])
		p := filepath.Join(docroot, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return nil, err
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			return nil, err
		}
	}

	// bty-web (one, or replicas on PostgreSQL behind a TCP balancer) and
	// bty-tftp, as a container runtime would run them.
	tftpPort, err := freeport.UDP()
	if err != nil {
		return nil, err
	}
	nginxPort, err := freeport.TCP()
	if err != nil {
		return nil, err
	}
	// Every simulated machine comes from 127.0.0.1: no bound per address.
	env := []string{"BTY_SERVER_LISTEN=127.0.0.1", "BTY_ADMIN_PASSWORD=" + password, "BTY_LIMITS_MAX_MACHINES=" + strconv.Itoa(n+100),
		"BTY_LIMITS_MAX_CONNECTIONS_PER_ADDRESS=0"}
	if replicas > 1 {
		pg, err := postgres.Start()
		if err != nil {
			return nil, err
		}
		l.stops = append(l.stops, pg.Stop)
		env = append(env, "BTY_STATE_URL="+pg.URL)
	}
	var backends []string
	for r := 0; r < max(replicas, 1); r++ {
		port, err := freeport.TCP()
		if err != nil {
			return nil, err
		}
		web, err := l.image(dir, fmt.Sprintf("web%d", r), imgs.Web, nil, append(env, "BTY_SERVER_PORT="+strconv.Itoa(port))...)
		if err != nil {
			return nil, err
		}
		l.WebPIDs = append(l.WebPIDs, web.Process.Pid)
		backends = append(backends, "127.0.0.1:"+strconv.Itoa(port))
		if err := waitHTTP("http://" + backends[r] + "/healthz"); err != nil {
			return nil, err
		}
	}
	base := "http://" + backends[0]
	if replicas > 1 {
		lb, err := balance(backends)
		if err != nil {
			return nil, err
		}
		l.stops = append(l.stops, func() { lb.Close() })
		base = "http://" + lb.Addr().String()
	}
	tftpCmd, err := l.image(dir, "tftp", imgs.TFTP, []string{"-listen", "127.0.0.1:" + strconv.Itoa(tftpPort)})
	if err != nil {
		return nil, err
	}
	ipxe, err := os.ReadFile(filepath.Join(l.root(tftpCmd), "var/lib/bty/tftp/ipxe.efi"))
	if err != nil {
		return nil, fmt.Errorf("the bty-tftp image's ipxe.efi: %w", err)
	}
	ipxeSum := sha256.Sum256(ipxe)

	// The operator's part, through the API. Each replica's files are its
	// own here (each image has its own root): the same bytes go to each.
	var op *webclient.Operator
	var up api.Uploaded
	for _, be := range backends {
		if op, err = webclient.Login("http://"+be, password); err != nil {
			return nil, err
		}
		for _, name := range []string{nb.Kernel, nb.Initrd, nb.Squashfs} {
			data, _ := os.ReadFile(filepath.Join(docroot, "boot", name))
			if err := op.PutBoot(name, data); err != nil {
				return nil, err
			}
		}
		data, _ := os.ReadFile(filepath.Join(docroot, "images/fleet.img"))
		if up, err = op.PutImage("fleet.img", data); err != nil {
			return nil, err
		}
	}
	// MAC(0) is not one of the fleet: its script becomes the anchor's
	// static copy, and asking for it starts its live boot.
	for i := 0; i <= n; i++ {
		if err := op.Save(MAC(i), provision.ModeFlashAlways, up.Ref, "FLEET", nil); err != nil {
			return nil, err
		}
	}

	// The anchor: Debian's nginx, tuned as one would for static files.
	nginx, err := findNginx()
	if err != nil {
		return nil, err
	}
	// The lab runs as root (the images run chrooted); nginx's workers do
	// too, so that they read the files wherever the caller's temporary
	// directory is (Bazel's test directories are under /root).
	conf := fmt.Sprintf(`daemon off;
user root;
master_process on;
worker_processes auto;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log warn;
events { worker_connections 8192; }
http {
	access_log off;
	sendfile on;
	tcp_nopush on;
	keepalive_requests 100000;
	client_body_temp_path %[1]s/body;
	proxy_temp_path %[1]s/proxy;
	fastcgi_temp_path %[1]s/fastcgi;
	uwsgi_temp_path %[1]s/uwsgi;
	scgi_temp_path %[1]s/scgi;
	types { application/octet-stream img vmlinuz initrd squashfs; }
	server { listen 127.0.0.1:%[2]d; root %[3]s; }
}
`, dir, nginxPort, docroot)
	if err := os.WriteFile(filepath.Join(dir, "nginx.conf"), []byte(conf), 0o644); err != nil {
		return nil, err
	}
	ng := exec.Command(nginx, "-c", filepath.Join(dir, "nginx.conf"), "-p", dir, "-e", filepath.Join(dir, "error.log"))
	if err := l.start(ng, filepath.Join(dir, "nginx.out")); err != nil {
		return nil, err
	}
	anchor := "http://127.0.0.1:" + strconv.Itoa(nginxPort)
	if err := waitHTTP(anchor + "/images/fleet.img"); err != nil {
		return nil, err
	}
	l.AnchorPIDs = append([]int{ng.Process.Pid}, children(ng.Process.Pid)...)

	file := func(name string) File {
		return File{Path: "/" + name, SHA256: sums[name], Size: files[name]}
	}
	trio := []File{file("boot/" + nb.Kernel), file("boot/" + nb.Initrd), file("boot/" + nb.Squashfs)}
	l.BTY = Target{Base: base, TFTP: "127.0.0.1:" + strconv.Itoa(tftpPort), IPXE: "ipxe.efi", IPXESHA256: hex.EncodeToString(ipxeSum[:]),
		Scripts: true, Bootstrap: "/pxe-bootstrap.ipxe", Script: "/pxe/{mac}?arch=x86_64&platform=efi",
		Files: trio, Image: file("images/fleet.img"), ExpectedScript: "kernel " + base + "/boot/"}
	// The anchor serves static copies of one machine's scripts: how fast
	// this machine can answer small requests at all.
	for name, path := range map[string]string{"pxe-bootstrap.ipxe": "/pxe-bootstrap.ipxe", "script.ipxe": "/pxe/" + MAC(0) + "?arch=x86_64&platform=efi"} {
		resp, err := http.Get(base + path)
		if err != nil {
			return nil, err
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err := os.WriteFile(filepath.Join(docroot, name), body, 0o644); err != nil {
			return nil, err
		}
	}
	l.Anchor = Target{Base: anchor, Bootstrap: "/pxe-bootstrap.ipxe", Script: "/script.ipxe", ExpectedScript: "kernel " + base + "/boot/",
		Files: trio, Image: file("images/fleet.img")}
	ok = true
	return l, nil
}

// image starts one of the OCI images; its output goes to dir/NAME.out.
func (l *Lab) image(dir, name string, layout []string, args []string, env ...string) (*exec.Cmd, error) {
	idx, err := ocirun.OpenLayout(layout, filepath.Join(dir, name+"-layout"))
	if err != nil {
		return nil, err
	}
	img, err := ocirun.PlatformImage(idx, "amd64")
	if err != nil {
		return nil, err
	}
	root := filepath.Join(dir, name+"-root")
	if err := os.MkdirAll(root, 0o755); err != nil {
		return nil, err
	}
	cmd, err := ocirun.Prepare(img, root, args, env...)
	if err != nil {
		return nil, err
	}
	return cmd, l.start(cmd, filepath.Join(dir, name+".out"))
}

func (l *Lab) root(cmd *exec.Cmd) string { return cmd.SysProcAttr.Chroot }

func (l *Lab) start(cmd *exec.Cmd, log string) error {
	f, err := os.Create(log)
	if err != nil {
		return err
	}
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", cmd.Path, err)
	}
	l.procs = append(l.procs, cmd)
	return nil
}

// Stop ends the servers: SIGTERM, as a service manager stops them (nginx's
// master then stops its workers, which a kill would leave running), and a
// kill for any that is still there after 10 seconds.
func (l *Lab) Stop() {
	for _, p := range l.procs {
		p.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { p.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			p.Process.Kill()
			<-done
		}
	}
	for _, stop := range l.stops {
		stop()
	}
}

// balance is a TCP balancer: each connection goes to the next backend in
// turn, bytes copied both ways, as a simple load balancer in front of
// replicas would.
func balance(backends []string) (net.Listener, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	go func() {
		for next := 0; ; next++ {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func(c net.Conn, to string) {
				defer c.Close()
				b, err := net.Dial("tcp", to)
				if err != nil {
					return
				}
				defer b.Close()
				done := make(chan struct{}, 2)
				go func() { io.Copy(b, c); b.(*net.TCPConn).CloseWrite(); done <- struct{}{} }()
				go func() { io.Copy(c, b); c.(*net.TCPConn).CloseWrite(); done <- struct{}{} }()
				<-done
				<-done
			}(c, backends[next%len(backends)])
		}
	}()
	return ln, nil
}

// Usage is a process's peak memory, open descriptors and CPU time used.
type Usage struct {
	PeakRSS int64 // bytes (VmHWM)
	FDs     int
	CPU     time.Duration // user + system, since the process started
}

// clockTick is Linux's USER_HZ, the unit of /proc/PID/stat's times (100
// on every architecture Linux runs bty on).
const clockTick = 10 * time.Millisecond

// Sample reads pid's peak RSS, its open descriptors and its CPU time now.
func Sample(pid int) (Usage, error) {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return Usage{}, err
	}
	var u Usage
	if stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil {
		// After the command's name (in parentheses, maybe with spaces):
		// state is field 3, utime 14 and stime 15.
		if _, rest, ok := strings.Cut(string(stat), ") "); ok {
			if f := strings.Fields(rest); len(f) > 12 {
				ut, _ := strconv.ParseInt(f[11], 10, 64)
				st, _ := strconv.ParseInt(f[12], 10, 64)
				u.CPU = time.Duration(ut+st) * clockTick
			}
		}
	}
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			u.PeakRSS = kb << 10
		}
	}
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	u.FDs = len(fds)
	return u, err
}

// children are the processes whose parent is pid (nginx's workers).
func children(pid int) []int {
	var out []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", child))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(status), "\n") {
			if v, ok := strings.CutPrefix(line, "PPid:"); ok && strings.TrimSpace(v) == strconv.Itoa(pid) {
				out = append(out, child)
			}
		}
	}
	return out
}

// findNginx finds Debian's nginx (in /usr/sbin, which a test's PATH may
// lack).
func findNginx() (string, error) {
	if p, err := exec.LookPath("nginx"); err == nil {
		return p, nil
	}
	if _, err := os.Stat("/usr/sbin/nginx"); err != nil {
		return "", fmt.Errorf("nginx not found; install it: apt-get install nginx")
	}
	return "/usr/sbin/nginx", nil
}

// SampleAll is Sample summed over processes.
func SampleAll(pids []int) (Usage, error) {
	var all Usage
	for _, pid := range pids {
		u, err := Sample(pid)
		if err != nil {
			return all, err
		}
		all.PeakRSS += u.PeakRSS
		all.FDs += u.FDs
		all.CPU += u.CPU
	}
	return all, nil
}

func waitHTTP(url string) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not answer within 30 s (%v)", url, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
