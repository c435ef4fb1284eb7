package testenv

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// chassis stands in for the machine ipmi_sim's chassis control drives
// (OpenIPMI's chassis_control program interface: "<mc> get power boot",
// "<mc> set power 1 boot pxe"): it keeps the power and the boot device in
// files and logs every change. While the file "hang" exists in its dir it
// never answers a power change, as a BMC that stops answering mid-command.
const chassisScript = `#!/bin/sh
s=%s
shift
op=$1; shift
[ -f $s/power ] || echo 0 >$s/power
case $op in
get)
	for p; do
		case $p in
		power) echo "power:$(cat $s/power)" ;;
		boot) echo "boot:$(cat $s/boot 2>/dev/null || echo default)" ;;
		*) echo "Invalid parameter: $p"; exit 1 ;;
		esac
	done ;;
set)
	if [ -f $s/hang ] && [ "$1" = power ]; then
		sleep 600
	fi
	while [ $# -gt 1 ]; do
		echo "$1 $2" >>$s/log
		case $1 in
		power) echo $2 >$s/power ;;
		boot) echo $2 >$s/boot ;;
		esac
		shift 2
	done ;;
*) exit 1 ;;
esac
`

// IPMISim runs OpenIPMI's ipmi_sim as a machine's BMC on a loopback UDP port,
// with one administrator, and returns its address and the chassis' dir.
func IPMISim(t testing.TB, user, password string) (addr, dir string) {
	t.Helper()
	sim := Tool(t, "ipmi_sim", "openipmi")
	dir = t.TempDir()
	port := FreeUDPPort(t)
	script := filepath.Join(dir, "chassis.sh")
	os.WriteFile(script, []byte(fmt.Sprintf(chassisScript, dir)), 0o755)
	conf := fmt.Sprintf(`name "bty"
set_working_mc 0x20
  startlan 1
    addr 127.0.0.1 %d
    priv_limit admin
    allowed_auths_callback none md2 md5 straight
    allowed_auths_user none md2 md5 straight
    allowed_auths_operator none md2 md5 straight
    allowed_auths_admin none md2 md5 straight
    guid a123456789abcdefa123456789abcdef
  endlan
  chassis_control "%s 0x20"
  user 2 true "%s" "%s" admin 10 none md2 md5 straight
`, port, script, user, password)
	emu := "mc_setbmc 0x20\nmc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02\nmc_enable 0x20\n"
	os.WriteFile(filepath.Join(dir, "lan.conf"), []byte(conf), 0o644)
	os.WriteFile(filepath.Join(dir, "sim.emu"), []byte(emu), 0o644)
	state := filepath.Join(dir, "state")
	os.Mkdir(state, 0o755)
	cmd := exec.Command(sim, "-n", "-c", filepath.Join(dir, "lan.conf"), "-f", filepath.Join(dir, "sim.emu"), "-s", state)
	out, _ := os.Create(filepath.Join(dir, "ipmi_sim.out"))
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // its chassis program's children go with it
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); cmd.Wait(); out.Close() })
	// Ready once its UDP socket is bound (the kernel's socket table says
	// so): a request before that is refused.
	bound := fmt.Sprintf(" 0100007F:%04X ", port)
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if b, _ := os.ReadFile("/proc/net/udp"); strings.Contains(string(b), bound) {
			break
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(filepath.Join(dir, "ipmi_sim.out"))
			t.Fatalf("ipmi_sim did not bind 127.0.0.1:%d in 20 s:\n%s", port, b)
		}
	}
	return fmt.Sprintf("127.0.0.1:%d", port), dir
}

// FreeUDPPort is a loopback UDP port nothing listens on now.
func FreeUDPPort(t testing.TB) int {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

// ChassisLog is what reached IPMISim's chassis, a change a line ("power
// 1", "boot pxe"), in order.
func ChassisLog(dir string) string {
	b, _ := os.ReadFile(filepath.Join(dir, "log"))
	return strings.TrimSpace(string(b))
}
