package liveinit

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/bty-lab/bty/bty/exfat"
	"github.com/bty-lab/bty/bty/stick"
)

// fakeSys builds a sysfs tree with a USB stick (sda, its ESP sda1 and
// BTY_IMAGES sda2), a CD (sr0) and a loop device.
func fakeSys(t *testing.T) string {
	t.Helper()
	sys := t.TempDir()
	dev := filepath.Join(sys, "devices/pci0000:00/usb2/block")
	files := map[string]string{
		"sda/size":           "8388608",
		"sda/sda1/partition": "1",
		"sda/sda1/uevent":    "MAJOR=8\nMINOR=1\nDEVNAME=sda1\nDEVTYPE=partition\nPARTN=1\nPARTNAME=EFI system partition\n",
		"sda/sda2/partition": "2",
		"sda/sda2/uevent":    "MAJOR=8\nMINOR=2\nDEVNAME=sda2\nDEVTYPE=partition\nPARTN=2\nPARTNAME=BTY_IMAGES\n",
		"sr0/uevent":         "DEVNAME=sr0\nDEVTYPE=disk\n",
		"loop0/uevent":       "DEVNAME=loop0\n",
	}
	for p, content := range files {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dev, p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dev, p), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	class := filepath.Join(sys, "class/block")
	os.MkdirAll(class, 0o755)
	for name, target := range map[string]string{"sda": "sda", "sda1": "sda/sda1", "sda2": "sda/sda2", "sr0": "sr0", "loop0": "loop0"} {
		if err := os.Symlink(filepath.Join("../../devices/pci0000:00/usb2/block", target), filepath.Join(class, name)); err != nil {
			t.Fatal(err)
		}
	}
	return sys
}

func TestBlockDevs(t *testing.T) {
	got := blockDevs(fakeSys(t))
	want := []blockDev{
		{Name: "sda"},
		{Name: "sda1", Parent: "sda", Number: 1, PartName: "EFI system partition"},
		{Name: "sda2", Parent: "sda", Number: 2, PartName: stick.ImagesLabel},
		{Name: "sr0"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("blockDevs:\n got %+v\nwant %+v", got, want)
	}
	u := &USB{disk: "sda"}
	if p, ok := u.imagesPartition(fakeSys(t)); !ok || p.Name != "sda2" {
		t.Errorf("imagesPartition: %+v %v", p, ok)
	}
}

// iso returns the first 34 KiB of an ISO 9660 image with a volume id.
func iso(id string, sectors uint32) []byte {
	b := make([]byte, 17*2048)
	pvd := b[16*2048:]
	pvd[0] = 1
	copy(pvd[1:], "CD001")
	copy(pvd[40:72], id+"                                ")
	pvd[80], pvd[81], pvd[82], pvd[83] = byte(sectors), byte(sectors>>8), byte(sectors>>16), byte(sectors>>24)
	return b
}

func TestIdentify(t *testing.T) {
	id, size := isoVolume(bytes.NewReader(iso("BTY_1_0_0", 1000)))
	if id != "BTY_1_0_0" || size != 1000*2048 {
		t.Errorf("isoVolume: %q %d", id, size)
	}
	if id := isoVolumeID(bytes.NewReader(make([]byte, 40<<10))); id != "" {
		t.Errorf("zeros: %q", id)
	}

	vol := filepath.Join(t.TempDir(), "exfat")
	f, _ := os.Create(vol)
	f.Truncate(exfat.MinSize)
	exfat.Format(f, exfat.MinSize, exfat.Options{Label: "X"})
	if got := fsType(f); got != "exfat" {
		t.Errorf("exFAT volume: %q", got)
	}
	f.Close()
	fat := make([]byte, 512)
	copy(fat[54:], "FAT16   ")
	fat[510], fat[511] = 0x55, 0xAA
	if got := fsType(bytes.NewReader(fat)); got != "vfat" {
		t.Errorf("FAT16 boot sector: %q", got)
	}
	copy(fat[54:], "        ")
	copy(fat[82:], "FAT32   ")
	if got := fsType(bytes.NewReader(fat)); got != "vfat" {
		t.Errorf("FAT32 boot sector: %q", got)
	}
	if got := fsType(bytes.NewReader(make([]byte, 512))); got != "" {
		t.Errorf("zeros: %q", got)
	}
}

// TestFindISO: the ISO of this version wins over others, in subfolders two
// levels deep, case-insensitively by extension; deeper ones are not searched.
func TestFindISO(t *testing.T) {
	root := t.TempDir()
	put := func(rel string, b []byte) {
		p := filepath.Join(root, rel)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	put("other.iso", iso("DEBIAN_13", 10))
	put("old/bty-0.9.iso", iso("BTY_0_9_0", 10))
	put("isos/bty/BTY.ISO", iso("BTY_1_0_0", 10))
	put("a/b/c/deep.iso", iso("BTY_2_0_0", 10))
	put("notes.txt", []byte("x"))
	if got := findISO(root, "BTY_1_0_0"); got != filepath.Join(root, "isos/bty/BTY.ISO") {
		t.Errorf("found %q", got)
	}
	if got := findISO(root, "BTY_2_0_0"); got != "" {
		t.Errorf("searched too deep: %q", got)
	}
	if got := findISO(root, "BTY_3_0_0"); got != "" {
		t.Errorf("found %q for a version that is not there", got)
	}
}
