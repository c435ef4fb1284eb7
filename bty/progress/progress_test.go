package progress

import (
	"bytes"
	"strings"
	"testing"
)

func TestMarkersOffTerminal(t *testing.T) {
	var out, console bytes.Buffer
	r := New(&out, false, &console)
	c := r.Counter("download", 1000)
	for range 100 {
		c.Add(10)
	}
	c.Done()
	want := "bty: download 25%\nbty: download 50%\nbty: download 75%\nbty: download 100%\n"
	if out.String() != want {
		t.Errorf("output = %q, want %q", out.String(), want)
	}
	if console.String() != want {
		t.Errorf("console = %q, want %q", console.String(), want)
	}
}

// One big step crosses several quarters: each marker still appears once.
func TestJumpPrintsEveryQuarter(t *testing.T) {
	var out bytes.Buffer
	c := New(&out, false).Counter("write", 100)
	c.Add(80)
	c.Add(20)
	c.Done()
	if got := strings.Count(out.String(), "bty: write"); got != 4 {
		t.Errorf("got %d markers in %q, want 4", got, out.String())
	}
}

func TestBarOnTerminal(t *testing.T) {
	var out, console bytes.Buffer
	r := New(&out, true, &console)
	c := r.Counter("write", 4<<20)
	c.Add(4 << 20)
	c.Done()
	if !strings.Contains(out.String(), "\rwrite    [") || !strings.Contains(out.String(), "100% 4.0 MiB/4.0 MiB") {
		t.Errorf("bar output = %q", out.String())
	}
	if strings.Contains(out.String(), "bty: write") {
		t.Errorf("terminal output carries marker lines: %q", out.String())
	}
	if !strings.Contains(console.String(), "bty: write 100%") {
		t.Errorf("console lacks markers: %q", console.String())
	}
}

// A stage of unknown size can follow another's fraction.
func TestFollow(t *testing.T) {
	var out bytes.Buffer
	r := New(&out, false)
	dl := r.Counter("download", 100)
	wr := r.Counter("write", -1)
	wr.Follow(dl.Fraction)
	dl.Add(50)
	wr.Add(1 << 20)
	if !strings.Contains(out.String(), "bty: write 50%") {
		t.Errorf("write did not follow download: %q", out.String())
	}
	unknown := r.Counter("other", -1)
	unknown.Add(5)
	if strings.Contains(out.String(), "other") {
		t.Errorf("unknown total printed a marker: %q", out.String())
	}
}

func TestBytes(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1536: "1.5 KiB", 3 << 30: "3.0 GiB"} {
		if got := Bytes(n); got != want {
			t.Errorf("Bytes(%d) = %q, want %q", n, got, want)
		}
	}
}
