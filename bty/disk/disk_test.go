package disk

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// machine builds a fake System: files maps paths (relative to the root) to
// contents; a path ending in "/" is a directory.
func machine(t *testing.T, files map[string]string) System {
	t.Helper()
	root := t.TempDir()
	for p, content := range files {
		full := filepath.Join(root, p)
		if strings.HasSuffix(p, "/") {
			if err := os.MkdirAll(full, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return System{
		Sys:       filepath.Join(root, "sys"),
		Dev:       filepath.Join(root, "dev"),
		MountInfo: filepath.Join(root, "proc/mountinfo"),
		Swaps:     filepath.Join(root, "proc/swaps"),
		UdevData:  filepath.Join(root, "run/udev/data"),
	}
}

func sampleMachine(t *testing.T) System {
	vpd := "\x00\x80\x00\x14" + "  WD-WCC4E1234567  \x00"
	return machine(t, map[string]string{
		// virtio disk with a serial; partition 1 mounted at "/mnt/my disk".
		"sys/block/vda/size":             "2097152\n",
		"sys/block/vda/serial":           "BTYTEST\n",
		"sys/block/vda/ro":               "0\n",
		"sys/block/vda/removable":        "0\n",
		"sys/block/vda/dev":              "254:0\n",
		"sys/block/vda/vda1/partition":   "1\n",
		"sys/block/vda/vda1/dev":         "254:1\n",
		"sys/class/block/vda1/partition": "1\n",
		// NVMe, serial under device/, a partition in use as swap.
		"sys/block/nvme0n1/size":                "1000215216\n",
		"sys/block/nvme0n1/device/serial":       "S4EWNX0R123456 \n",
		"sys/block/nvme0n1/device/model":        "Samsung SSD 970\n",
		"sys/block/nvme0n1/dev":                 "259:0\n",
		"sys/block/nvme0n1/nvme0n1p2/partition": "2\n",
		"sys/block/nvme0n1/nvme0n1p2/dev":       "259:2\n",
		// SATA, serial only in VPD page 0x80; held by LVM.
		"sys/block/sda/size":               "500118192\n",
		"sys/block/sda/device/vpd_pg80":    vpd,
		"sys/block/sda/dev":                "8:0\n",
		"sys/block/sda/sda1/partition":     "1\n",
		"sys/block/sda/sda1/holders/dm-0/": "",
		// USB stick, read-only, serial only in the udev database.
		"sys/block/sdb/size":      "7864320\n",
		"sys/block/sdb/removable": "1\n",
		"sys/block/sdb/ro":        "1\n",
		"sys/block/sdb/dev":       "8:16\n",
		"run/udev/data/b8:16":     "S:disk/by-id/usb-x\nE:ID_SERIAL_SHORT=4C530001\n",
		// Free loop device, no serial; an empty one (size 0); a ram disk.
		"sys/block/loop0/size": "204800\n",
		"sys/block/loop0/dev":  "7:0\n",
		"sys/block/loop1/size": "0\n",
		"sys/block/ram0/size":  "8192\n",
		"proc/mountinfo": "22 1 0:21 / /proc rw - proc proc rw\n" +
			"30 1 254:1 / /mnt/my\\040disk rw - ext4 /dev/vda1 rw\n",
		"proc/swaps": "Filename\tType\tSize\tUsed\tPriority\n/dev/nvme0n1p2 partition 100 0 -2\n",
	})
}

func TestList(t *testing.T) {
	s := sampleMachine(t)
	disks, err := s.List()
	if err != nil {
		t.Fatal(err)
	}
	want := []Disk{
		{Name: "loop0", Path: s.Dev + "/loop0", Size: 204800 * 512},
		{Name: "nvme0n1", Path: s.Dev + "/nvme0n1", Size: 1000215216 * 512, Serial: "S4EWNX0R123456", Model: "Samsung SSD 970", Transport: "nvme", InUse: []string{"nvme0n1p2 is in use as swap"}},
		{Name: "sda", Path: s.Dev + "/sda", Size: 500118192 * 512, Serial: "WD-WCC4E1234567", InUse: []string{"sda1 is held by dm-0 (LVM, dm-crypt or RAID)"}},
		{Name: "sdb", Path: s.Dev + "/sdb", Size: 7864320 * 512, Serial: "4C530001", Removable: true, ReadOnly: true},
		{Name: "vda", Path: s.Dev + "/vda", Size: 2097152 * 512, Serial: "BTYTEST", InUse: []string{"vda1 is mounted on /mnt/my disk"}},
	}
	if diff := cmp.Diff(want, disks); diff != "" {
		t.Errorf("List (-want +got):\n%s", diff)
	}
}

func TestBySerial(t *testing.T) {
	disks, err := sampleMachine(t).List()
	if err != nil {
		t.Fatal(err)
	}
	if d, err := BySerial(disks, "BTYTEST"); err != nil || d.Name != "vda" {
		t.Errorf("BySerial(BTYTEST) = %s, %v", d.Name, err)
	}
	for _, s := range []string{"", "btytest", "BTYTEST ", "BTY"} {
		if d, err := BySerial(disks, s); !errors.Is(err, ErrNotFound) {
			t.Errorf("BySerial(%q) = %s, %v; want ErrNotFound (exact match only)", s, d.Name, err)
		}
	}
	dup := append(disks, Disk{Name: "vdb", Serial: "BTYTEST"})
	if _, err := BySerial(dup, "BTYTEST"); err == nil || !strings.Contains(err.Error(), "refusing to guess") {
		t.Errorf("duplicate serial: %v", err)
	}
}

func TestCheck(t *testing.T) {
	disks, _ := sampleMachine(t).List()
	byName := map[string]Disk{}
	for _, d := range disks {
		byName[d.Name] = d
	}
	for name, want := range map[string]string{
		"vda":     "in use: vda1 is mounted on /mnt/my disk",
		"nvme0n1": "in use as swap",
		"sda":     "held by dm-0",
		"sdb":     "read-only",
	} {
		if err := byName[name].Check(1); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Check(%s) = %v, want %q", name, err, want)
		}
	}
	loop := byName["loop0"]
	if err := loop.Check(loop.Size); err != nil {
		t.Errorf("Check of an image that fits exactly: %v", err)
	}
	if err := loop.Check(loop.Size + 1); err == nil || !strings.Contains(err.Error(), "too small") {
		t.Errorf("Check of a too-large image: %v", err)
	}
}

func TestResolve(t *testing.T) {
	s := sampleMachine(t)
	os.MkdirAll(s.Dev, 0o755)
	for _, n := range []string{"loop0", "vda1"} {
		os.WriteFile(filepath.Join(s.Dev, n), nil, 0o644)
	}
	if d, err := s.Resolve(filepath.Join(s.Dev, "loop0")); err != nil || d.Name != "loop0" {
		t.Errorf("Resolve(loop0) = %v, %v", d, err)
	}
	if _, err := s.Resolve(filepath.Join(s.Dev, "vda1")); err == nil || !strings.Contains(err.Error(), "partition") {
		t.Errorf("Resolve(partition) = %v, want a refusal", err)
	}
	if _, err := s.Resolve(filepath.Join(s.Dev, "sdz")); !errors.Is(err, ErrNotFound) {
		t.Errorf("Resolve(missing) = %v, want ErrNotFound", err)
	}
}

// TestTransport resolves sysfs links as the kernel lays them out.
func TestTransport(t *testing.T) {
	sys := t.TempDir()
	for want, dev := range map[string]string{
		"usb":    "devices/pci0000:00/0000:00:14.0/usb2/2-1/2-1:1.0/host6/target6:0:0/6:0:0:0/block/sdb",
		"sata":   "devices/pci0000:00/0000:00:17.0/ata1/host0/target0:0:0/0:0:0:0/block/sda",
		"scsi":   "devices/pci0000:00/0000:00:10.0/host2/target2:0:0/2:0:0:0/block/sdc",
		"virtio": "devices/pci0000:00/0000:00:04.0/virtio2/block/vda",
		"nvme":   "devices/pci0000:00/0000:00:1d.0/0000:3d:00.0/nvme/nvme0/nvme0n1",
		"":       "devices/virtual/block/loop0",
	} {
		if err := os.MkdirAll(filepath.Join(sys, dev), 0o755); err != nil {
			t.Fatal(err)
		}
		link := filepath.Join(sys, "block", filepath.Base(dev))
		os.MkdirAll(filepath.Dir(link), 0o755)
		if err := os.Symlink(filepath.Join("..", dev), link); err != nil {
			t.Fatal(err)
		}
		if got := transport(link); got != want {
			t.Errorf("%s: transport %q, want %q", dev, got, want)
		}
	}
}
