package stick

import (
	"bytes"
	"crypto/rand"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/bty-lab/bty/bty/exfat"
	"github.com/bty-lab/bty/bty/gpt"
	"github.com/bty-lab/bty/bty/loopdev"
	"github.com/bty-lab/bty/internal/testenv"
)

func TestVolumeID(t *testing.T) {
	for v, want := range map[string]string{"0.1.0": "BTY_0_1_0", "1.4.0-rc.1": "BTY_1_4_0_RC_1"} {
		if got := VolumeID(v); got != want {
			t.Errorf("VolumeID(%q) = %q, want %q", v, got, want)
		}
	}
}

// stickImage is a small stick as dd leaves it: a GPT with a first
// partition and an 8 MiB exFAT BTY_IMAGES right behind it, then diskMiB-
// 9 MiB of unused space.
func stickImage(t *testing.T, diskMiB int64) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "stick.img")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// As the ISO file ends: backup table right behind BTY_IMAGES.
	if err := f.Truncate(9<<20 + 64<<10); err != nil {
		t.Fatal(err)
	}
	sectors := uint64(9<<20+64<<10) / gpt.SectorSize
	err = gpt.Write(f, sectors, gpt.Table{Partitions: []gpt.Partition{
		{Type: gpt.TypeEFISystem, GUID: gpt.MustGUID("11111111-2222-4333-8444-555555555555"), First: 64, Last: 2047, Name: "EFI"},
		{Type: gpt.TypeBasicData, GUID: gpt.MustGUID("66666666-7777-4888-9999-AAAAAAAAAAAA"), First: 2048, Last: 9*2048 - 1, Name: ImagesLabel},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if err := exfat.Format(io.NewOffsetWriter(f, 1<<20), 8<<20, exfat.Options{Label: ImagesLabel, Serial: 0xCAFE}); err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(diskMiB << 20); err != nil {
		t.Fatal(err)
	}
	return p
}

// grower attaches the image to a loop device and its BTY_IMAGES to a second
// one (build machines' kernels may read no partition tables, so the kernel's
// partition device is played by a loop device over the same bytes; the
// BLKPG resize is left to the USB boot test), and mounts exFAT with
// exfat-fuse, which works where the kernel has no exfat driver.
func grower(t *testing.T, img string, memory int64) *Grower {
	t.Helper()
	testenv.Require(t, "loop devices", loopdev.Available())
	tool := testenv.Tool(t, "mount.exfat-fuse", "exfat-fuse")
	dev, err := loopdev.Attach(img, false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dev.Detach() })
	part, err := loopdev.AttachWith(img, loopdev.Options{Offset: 1 << 20, Size: 8 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { part.Detach() })
	return &Grower{
		Disk: dev.Path, Partition: part.Path, Number: 2, Dir: t.TempDir(), Memory: memory, Version: "test",
		Resize: func(start, length int64) error {
			if start != 1<<20 {
				t.Errorf("resize moved the partition's start to %d", start)
			}
			return part.Resize(length)
		},
		Mount: func(dev, dir string) error {
			if out, err := exec.Command(tool, dev, dir).CombinedOutput(); err != nil {
				return &exec.ExitError{Stderr: out}
			}
			return nil
		},
		Unmount: func(dir string) error { return unix.Unmount(dir, 0) },
	}
}

func TestGrowKeepsFilesAndFillsTheStick(t *testing.T) {
	img := stickImage(t, 256)
	g := grower(t, img, 64<<20)
	want := make([]byte, 3<<20)
	rand.Read(want)
	if err := g.Mount(g.Partition, g.Dir); err != nil {
		testenv.Require(t, "exfat-fuse", err)
	}
	os.MkdirAll(filepath.Join(g.Dir, ImagesFolder), 0o755)
	os.WriteFile(filepath.Join(g.Dir, ImagesFolder, "demo.img.gz"), want, 0o644)
	os.WriteFile(filepath.Join(g.Dir, "catalog.toml"), []byte("version = 1\n"), 0o644)
	if err := g.Unmount(g.Dir); err != nil {
		t.Fatal(err)
	}

	res, err := g.Grow()
	if err != nil {
		t.Fatal(err)
	}
	// 256 MiB less the backup table, rounded down to 1 MiB, less the 1 MiB
	// before the partition.
	if !res.Grown || res.SizeMiB != 254 || res.String() != "grew BTY_IMAGES to 254 MiB" {
		t.Fatalf("result %+v (%s)", res, res)
	}
	out, err := exec.Command(testenv.Tool(t, "sfdisk", "fdisk"), "--verify", img).CombinedOutput()
	if err != nil || strings.Contains(string(out), "mismatch") {
		t.Errorf("sfdisk --verify after the grow: %v\n%s", err, out)
	}
	if out, err := exec.Command(testenv.Tool(t, "fsck.exfat", "exfatprogs"), "-n", g.Partition).CombinedOutput(); err != nil {
		t.Errorf("fsck.exfat: %v\n%s", err, out)
	}
	if err := g.Mount(g.Partition, g.Dir); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(filepath.Join(g.Dir, ImagesFolder, "demo.img.gz"))
	_, sentinel := os.Stat(filepath.Join(g.Dir, Grown))
	var st unix.Statfs_t
	unix.Statfs(g.Dir, &st)
	g.Unmount(g.Dir)
	if !bytes.Equal(got, want) || sentinel != nil {
		t.Errorf("after the grow: file intact %v, sentinel %v", bytes.Equal(got, want), sentinel)
	}
	if size := int64(st.Blocks) * st.Bsize; size < 250<<20 {
		t.Errorf("the filesystem is %d MiB", size>>20)
	}
	if serial, _ := readSerial(g.Partition); serial != 0xCAFE {
		t.Errorf("serial %#x, want the old one", serial)
	}

	res, err = g.Grow()
	if err != nil || res.Grown || res.Why != "grown before (.bty-grown found)" {
		t.Errorf("second grow: %+v, %v", res, err)
	}
}

func TestGrowSkipsAndRefuses(t *testing.T) {
	t.Run("no room", func(t *testing.T) {
		g := grower(t, stickImage(t, 20), 64<<20)
		res, err := g.Grow()
		if err != nil || res.Grown || !strings.Contains(res.Why, "free behind BTY_IMAGES") {
			t.Errorf("%+v, %v", res, err)
		}
	})
	t.Run("sentinel", func(t *testing.T) {
		g := grower(t, stickImage(t, 256), 64<<20)
		if err := g.Mount(g.Partition, g.Dir); err != nil {
			testenv.Require(t, "exfat-fuse", err)
		}
		os.WriteFile(filepath.Join(g.Dir, Grown), nil, 0o644)
		g.Unmount(g.Dir)
		res, err := g.Grow()
		if err != nil || res.Grown || !strings.Contains(res.Why, "grown before") {
			t.Errorf("%+v, %v", res, err)
		}
	})
	t.Run("too big for memory", func(t *testing.T) {
		img := stickImage(t, 256)
		g := grower(t, img, 1<<20)
		if err := g.Mount(g.Partition, g.Dir); err != nil {
			testenv.Require(t, "exfat-fuse", err)
		}
		os.WriteFile(filepath.Join(g.Dir, "big.img"), make([]byte, 2<<20), 0o644)
		g.Unmount(g.Dir)
		before, _ := os.ReadFile(img)
		_, err := g.Grow()
		if err == nil || !strings.Contains(err.Error(), "refused") || !strings.Contains(err.Error(), "move the files off") {
			t.Fatalf("grow: %v", err)
		}
		if err := g.Mount(g.Partition, g.Dir); err != nil {
			t.Fatal(err)
		}
		_, failed := os.Stat(filepath.Join(g.Dir, GrowFailed))
		got, _ := os.ReadFile(filepath.Join(g.Dir, "big.img"))
		g.Unmount(g.Dir)
		if failed != nil || len(got) != 2<<20 {
			t.Errorf("sentinel %v, file %d bytes", failed, len(got))
		}
		after, _ := os.ReadFile(img)
		if !bytes.Equal(before[:1<<20], after[:1<<20]) {
			t.Error("the partition table changed on a refused grow")
		}
		res, err := g.Grow()
		if err != nil || !strings.Contains(res.Why, "delete it to try again") {
			t.Errorf("after a refusal: %+v, %v", res, err)
		}
	})
}
