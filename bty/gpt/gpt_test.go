package gpt

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/bty-lab/bty/internal/testenv"
)

func sample() Table {
	return Table{
		DiskGUID: MustGUID("0F1E2D3C-4B5A-6978-8796-A5B4C3D2E1F0"),
		Partitions: []Partition{
			{Type: TypeEFISystem, GUID: MustGUID("11111111-2222-3333-4444-555555555555"), First: 64, Last: 2047, Name: "EFI"},
			{Type: TypeBasicData, GUID: MustGUID("66666666-7777-8888-9999-AAAAAAAAAAAA"), First: 2048, Last: 4095, Name: "BTY_IMAGES"},
		},
	}
}

func TestGUIDText(t *testing.T) {
	const s = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B"
	g := MustGUID(s)
	if g.String() != s {
		t.Errorf("round trip: %s", g)
	}
	// The on-disk order swaps the first three fields (UEFI spec, appendix A).
	if g[0] != 0x28 || g[3] != 0xC1 || g[8] != 0xBA {
		t.Errorf("on-disk bytes % x", g)
	}
	for _, bad := range []string{"", "C12A7328F81F11D2BA4B00A0C93EC93B", "X12A7328-F81F-11D2-BA4B-00A0C93EC93B"} {
		if _, err := ParseGUID(bad); err == nil {
			t.Errorf("ParseGUID(%q) accepted", bad)
		}
	}
}

func writeImage(t *testing.T, sectors uint64, tab Table) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "disk.img")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(int64(sectors * SectorSize)); err != nil {
		t.Fatal(err)
	}
	if err := Write(f, sectors, tab); err != nil {
		t.Fatal(err)
	}
	return p
}

// sfdiskDump is what util-linux's sfdisk reads from the image: an
// independent reader of both tables.
type sfdiskDump struct {
	PartitionTable struct {
		Label      string `json:"label"`
		ID         string `json:"id"`
		FirstLBA   uint64 `json:"firstlba"`
		LastLBA    uint64 `json:"lastlba"`
		Partitions []struct {
			Start uint64 `json:"start"`
			Size  uint64 `json:"size"`
			Type  string `json:"type"`
			UUID  string `json:"uuid"`
			Name  string `json:"name"`
		} `json:"partitions"`
	} `json:"partitiontable"`
}

func sfdisk(t *testing.T, img string) sfdiskDump {
	t.Helper()
	tool := testenv.Tool(t, "sfdisk", "fdisk")
	out, err := exec.Command(tool, "--verify", img).CombinedOutput()
	if err != nil || strings.Contains(string(out), "mismatch") || strings.Contains(string(out), "corrupt") {
		t.Fatalf("sfdisk --verify: %v\n%s", err, out)
	}
	out, err = exec.Command(tool, "--json", img).CombinedOutput()
	if err != nil {
		t.Fatalf("sfdisk --json: %v\n%s", err, out)
	}
	var d sfdiskDump
	if err := json.Unmarshal(out, &d); err != nil {
		t.Fatalf("sfdisk --json: %v\n%s", err, out)
	}
	return d
}

func TestWriteReadsBackAndSfdiskAgrees(t *testing.T) {
	tab := sample()
	img := writeImage(t, 8192, tab)
	f, _ := os.Open(img)
	defer f.Close()
	got, err := Read(f)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(tab, got); d != "" {
		t.Errorf("read back (-want +got):\n%s", d)
	}
	d := sfdisk(t, img)
	pt := d.PartitionTable
	if pt.Label != "gpt" || pt.FirstLBA != 34 || pt.LastLBA != 8192-34 || len(pt.Partitions) != 2 {
		t.Fatalf("sfdisk sees %+v", pt)
	}
	if p := pt.Partitions[1]; p.Start != 2048 || p.Size != 2048 || p.Name != "BTY_IMAGES" ||
		p.Type != TypeBasicData.String() || p.UUID != tab.Partitions[1].GUID.String() {
		t.Errorf("sfdisk sees partition 2 as %+v", p)
	}
}

// TestGrowOnLargerDisk is what happens when the ISO is written to a stick:
// the backup table sits where the image ended; Grow and Write move it to the
// disk's end and extend the last partition, and sfdisk finds both tables
// consistent.
func TestGrowOnLargerDisk(t *testing.T) {
	img := writeImage(t, 8192, sample())
	const disk = 65536 // 32 MiB
	if err := os.Truncate(img, disk*SectorSize); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(img, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tab, err := Read(f)
	if err != nil {
		t.Fatal(err)
	}
	last := tab.Last()
	if last != 1 || tab.Free(last, disk) != disk-34-4095 {
		t.Fatalf("last %d, free %d", last, tab.Free(last, disk))
	}
	grown, err := tab.Grow(last, disk, 2048)
	if err != nil {
		t.Fatal(err)
	}
	if err := Write(f, disk, grown); err != nil {
		t.Fatal(err)
	}
	p := sfdisk(t, img).PartitionTable.Partitions[1]
	// 65536 - 34 usable sectors end at 65502, rounded down to a 1 MiB boundary.
	if p.Start != 2048 || p.Start+p.Size != 63488 {
		t.Errorf("grown partition: start %d size %d", p.Start, p.Size)
	}
	if _, err := grown.Grow(last, disk, 2048); err == nil {
		t.Error("growing a grown partition again succeeded")
	}
	if _, err := tab.Grow(0, disk, 2048); err == nil || !strings.Contains(err.Error(), "not the last") {
		t.Errorf("growing partition 1: %v", err)
	}
}

func TestRefusals(t *testing.T) {
	overlap := sample()
	overlap.Partitions[1].First = 2000
	tooBig := sample()
	tooBig.Partitions[1].Last = 8192
	longName := sample()
	longName.Partitions[0].Name = strings.Repeat("x", 37)
	for name, tab := range map[string]Table{"overlap": overlap, "past the end": tooBig, "long name": longName} {
		if err := Write(discard{}, 8192, tab); err == nil {
			t.Errorf("%s: written", name)
		}
	}
	var blank discard
	if _, err := Read(blank); err != ErrNoTable {
		t.Errorf("reading zeros: %v", err)
	}
}

type discard struct{}

func (discard) WriteAt(p []byte, _ int64) (int, error) { return len(p), nil }
func (discard) ReadAt(p []byte, _ int64) (int, error) {
	clear(p)
	return len(p), nil
}
