package fat

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bty-lab/bty/internal/testenv"
)

func TestNames(t *testing.T) {
	for name, want := range map[string]string{"BOOTX64.EFI": "BOOTX64 EFI", "vmlinuz": "VMLINUZ    ", "a_b-c.x": "A_B-C   X  "} {
		raw, _, err := shortName(name)
		if err != nil || string(raw) != want {
			t.Errorf("shortName(%q) = %q, %v", name, raw, err)
		}
	}
	if _, flags, _ := shortName("initrd"); flags != fatLowerBase {
		t.Errorf("lower-case base: flags %#x", flags)
	}
	for _, bad := range []string{"loader.conf", "Mixed", "toolongname", "a b"} {
		if _, _, err := shortName(bad); err == nil {
			t.Errorf("shortName(%q) accepted", bad)
		}
	}
	if got := string(aliasName("loader.conf", 1)); got != "LOADER~1CON" {
		t.Errorf("alias %q", got)
	}
	for _, bad := range []string{"a/b", "a:b", "", ".."} {
		if checkLongName(bad) == nil {
			t.Errorf("checkLongName(%q) accepted", bad)
		}
	}
}

// A volume with long names, checked by the reference tools: fsck.fat
// finds nothing to fix, and mtools reads each file back by its long name.
func TestBuildReadByMtools(t *testing.T) {
	fsck := testenv.Tool(t, "fsck.fat", "dosfstools")
	mcopy := testenv.Tool(t, "mcopy", "mtools")
	files := []File{{Path: "meta-data", Data: []byte("instance-id: x\n")}, {Path: "user-data", Data: []byte("#cloud-config\n")},
		{Path: "network-config", Data: bytes.Repeat([]byte("a"), 5000)}, {Path: "EFI/BOOT/BOOTX64.EFI", Data: []byte("efi")}}
	img, err := Build(files, "CIDATA", 0x1234abcd, time.Date(2026, 12, 8, 0, 0, 0, 0, time.UTC), 0)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "vol.img")
	os.WriteFile(path, img.Image, 0o644)
	if out, err := exec.Command(fsck, "-n", path).CombinedOutput(); err != nil {
		t.Errorf("fsck.fat -n: %v\n%s", err, out)
	}
	for _, f := range files {
		cmd := exec.Command(mcopy, "-n", "-i", path, "::"+f.Path, "-")
		cmd.Env = append(os.Environ(), "MTOOLS_SKIP_CHECK=1")
		out, err := cmd.Output()
		if err != nil || !bytes.Equal(out, f.Data) {
			t.Errorf("mcopy ::%s: %v, %d bytes (want %d)", f.Path, err, len(out), len(f.Data))
		}
	}
	if !strings.Contains(string(img.Image[43:54]), "CIDATA") {
		t.Errorf("volume label %q", img.Image[43:54])
	}
}
