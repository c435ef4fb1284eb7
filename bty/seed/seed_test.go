package seed

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bty-lab/bty/bty/gpt"
	"github.com/bty-lab/bty/internal/testenv"
)

const mib = 1 << 20

var files = Files{MetaData: "instance-id: bty-0123456789abcdef\nlocal-hostname: web1\n", UserData: "#cloud-config\nhostname: web1\n", NetworkConfig: "version: 2\n"}

// image makes a disk of diskMiB holding a GPT "image" of imageMiB (its
// backup table where the image ends, as a flash leaves it): an ESP and a
// root partition full of a pattern, and BIOS boot code in the MBR.
func image(t *testing.T, imageMiB, diskMiB int64) (*os.File, [32]byte) {
	t.Helper()
	f, err := os.Create(filepath.Join(t.TempDir(), "disk"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	if err := f.Truncate(diskMiB * mib); err != nil {
		t.Fatal(err)
	}
	tab := gpt.Table{DiskGUID: gpt.MustGUID("0B7E0000-0000-4000-8000-000000000001"), Partitions: []gpt.Partition{
		{Type: gpt.TypeEFISystem, GUID: gpt.MustGUID("0B7E0000-0000-4000-8000-000000000002"), First: 2048, Last: 4095, Name: "ESP"},
		{Type: gpt.MustGUID("0FC63DAF-8483-4772-8E79-3D69D8477DE4"), GUID: gpt.MustGUID("0B7E0000-0000-4000-8000-000000000003"), First: 4096, Last: uint64(imageMiB*mib/512) - 2048, Name: "root"},
	}}
	if err := gpt.Write(f, uint64(imageMiB*mib/512), tab); err != nil {
		t.Fatal(err)
	}
	boot := bytes.Repeat([]byte{0xEB}, 440)
	f.WriteAt(boot, 0)
	data := bytes.Repeat([]byte("root partition "), int(tab.Partitions[1].Sectors()*512/15))
	f.WriteAt(data, 4096*512)
	return f, sha256.Sum256(data)
}

// A GPT image on a larger disk: the seed goes at the disk's end in the
// next entry, the backup table moves to the end, the image's partitions,
// their bytes and the MBR's boot code stay, and Debian's tools read it all:
// sfdisk verifies the table, blkid finds the CIDATA volume, mtools reads
// each file.
func TestGPT(t *testing.T) {
	f, rootSum := image(t, 24, 64)
	p, err := Write(f, 64*mib, files)
	if err != nil {
		t.Fatal(err)
	}
	if p.Table != "gpt" || p.Partition != 3 || (p.First+p.Sectors-1) > 64*mib/512-34 || p.First%align != 0 {
		t.Errorf("placed %+v", p)
	}
	tab, err := gpt.Read(f)
	if err != nil || len(tab.Partitions) != 3 || tab.Partitions[2].Name != Label || tab.Partitions[1].Name != "root" || tab.Partitions[1].Last != 24*mib/512-2048 {
		t.Fatalf("table after: %+v, %v", tab, err)
	}
	mbr := make([]byte, 512)
	f.ReadAt(mbr, 0)
	if !bytes.Equal(mbr[:440], bytes.Repeat([]byte{0xEB}, 440)) || mbr[450] != 0xEE {
		t.Errorf("MBR after: boot code kept %v, protective type %#x", bytes.Equal(mbr[:440], bytes.Repeat([]byte{0xEB}, 440)), mbr[450])
	}
	root := make([]byte, (tab.Partitions[1].Sectors()*512/15)*15)
	f.ReadAt(root, 4096*512)
	if sha256.Sum256(root) != rootSum {
		t.Error("the root partition's bytes changed")
	}
	backup, old := make([]byte, 8), make([]byte, 8)
	f.ReadAt(backup, 64*mib-512)
	f.ReadAt(old, 24*mib-512)
	if string(backup) != "EFI PART" || string(old) == "EFI PART" {
		t.Errorf("backup GPT header at the disk's last sector %q, where the image ended %q; want it moved", backup, old)
	}
	checkTools(t, f.Name(), p)
}

// checkTools has Debian's tools read the disk, as the installed system's
// boot will: sfdisk, blkid, mtools.
func checkTools(t *testing.T, disk string, p Placed) {
	sfdisk := testenv.Tool(t, "sfdisk", "fdisk")
	if out, err := exec.Command(sfdisk, "--verify", disk).CombinedOutput(); err != nil || !strings.Contains(string(out), "No errors detected") {
		t.Errorf("sfdisk --verify: %v\n%s", err, out)
	}
	offset := fmt.Sprint(p.First * 512)
	blkid := testenv.Tool(t, "blkid", "util-linux")
	out, err := exec.Command(blkid, "-p", "-O", offset, "-o", "export", disk).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "LABEL=CIDATA") || !strings.Contains(string(out), "TYPE=vfat") {
		t.Errorf("blkid at the seed: %v\n%s", err, out)
	}
	mcopy := testenv.Tool(t, "mcopy", "mtools")
	for name, want := range map[string]string{"meta-data": files.MetaData, "user-data": files.UserData, "network-config": files.NetworkConfig} {
		cmd := exec.Command(mcopy, "-n", "-i", disk+"@@"+offset, "::"+name, "-")
		cmd.Env = append(os.Environ(), "MTOOLS_SKIP_CHECK=1")
		got, err := cmd.Output()
		if err != nil || string(got) != want {
			t.Errorf("mcopy ::%s: %v, %q", name, err, got)
		}
	}
}

// An image that fills its disk leaves no room: a clear error, and the
// disk as it was.
func TestNoRoom(t *testing.T) {
	f, _ := image(t, 64, 64)
	before := make([]byte, 34*512)
	f.ReadAt(before, 0)
	if _, err := Write(f, 64*mib, files); !errors.Is(err, ErrNoRoom) || !strings.Contains(err.Error(), "the image's partitions end at sector") {
		t.Fatalf("err = %v", err)
	}
	after := make([]byte, 34*512)
	f.ReadAt(after, 0)
	if !bytes.Equal(before, after) {
		t.Error("a refused seed changed the partition table")
	}
}

// An MBR image gets the seed in its first free primary slot; an MBR with
// all four slots used gets none.
func TestMBR(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "disk"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.Truncate(64 * mib)
	mbr := make([]byte, 512)
	entry := func(i int, typ byte, start, count uint32) {
		e := mbr[446+16*i:]
		e[4] = typ
		binary.LittleEndian.PutUint32(e[8:], start)
		binary.LittleEndian.PutUint32(e[12:], count)
	}
	entry(0, 0x83, 2048, 40960)
	mbr[510], mbr[511] = 0x55, 0xAA
	f.WriteAt(mbr, 0)
	p, err := Write(f, 64*mib, files)
	if err != nil || p.Table != "mbr" || p.Partition != 2 {
		t.Fatalf("placed %+v, %v", p, err)
	}
	checkTools(t, f.Name(), p)

	for i := 1; i < 4; i++ {
		entry(i, 0x83, uint32(43008+2048*i), 2048)
	}
	f.WriteAt(mbr, 0)
	if _, err := Write(f, 64*mib, files); !errors.Is(err, ErrNoRoom) || !strings.Contains(err.Error(), "all four") {
		t.Errorf("a full MBR: %v", err)
	}
}
