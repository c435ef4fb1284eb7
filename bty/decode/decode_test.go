package decode

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/bty-lab/bty/bty/catalog"
	"github.com/bty-lab/bty/bty/imagetest"
)

// payload is disk-like test data.
func payload(n int) []byte { return imagetest.Disk(n, 7) }

var streamed = []catalog.Format{catalog.Raw, catalog.Gzip, catalog.Zstd, catalog.XZ, catalog.Bzip2}

func TestRoundTrip(t *testing.T) {
	raw := payload(1<<20 + 17)
	for _, f := range streamed {
		t.Run(string(f), func(t *testing.T) {
			enc := imagetest.Encode(t, f, raw)
			r, err := Stream(f, bytes.NewReader(enc))
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			got, err := io.ReadAll(r)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, raw) {
				t.Errorf("decoded %d bytes, differ from the %d raw bytes", len(got), len(raw))
			}
		})
	}
}

// A cut or damaged stream is an error, never a short or altered image.
func TestTruncatedAndCorrupt(t *testing.T) {
	raw := payload(1 << 20)
	for _, f := range streamed[1:] {
		enc := imagetest.Encode(t, f, raw)
		cut := enc[:len(enc)/2]
		damaged := bytes.Clone(enc)
		for i := len(enc) / 2; i < len(enc)/2+16; i++ {
			damaged[i] ^= 0x55
		}
		for name, in := range map[string][]byte{"truncated": cut, "corrupt": damaged} {
			t.Run(string(f)+"/"+name, func(t *testing.T) {
				r, err := Stream(f, bytes.NewReader(in))
				if err == nil {
					var got []byte
					got, err = io.ReadAll(r)
					r.Close()
					if err == nil && bytes.Equal(got, raw) {
						t.Fatalf("damaged input decoded to the original bytes")
					}
				}
				if err == nil {
					t.Errorf("decoding a %s %s stream succeeded", name, f)
				}
			})
		}
	}
}

func TestWrongFormat(t *testing.T) {
	raw := payload(4096)
	gz := imagetest.Encode(t, catalog.Gzip, raw)
	for _, tc := range []struct {
		named catalog.Format
		data  []byte
	}{
		{catalog.Zstd, gz},
		{catalog.Raw, gz},
		{catalog.Gzip, raw},
		{catalog.XZ, nil},
	} {
		if _, err := Stream(tc.named, bytes.NewReader(tc.data)); !errors.Is(err, ErrFormat) {
			t.Errorf("Stream(%s) of other data: %v, want ErrFormat", tc.named, err)
		}
	}
	if _, err := Stream(catalog.QCOW2, bytes.NewReader(nil)); err == nil {
		t.Errorf("Stream(qcow2) succeeded")
	}
}

func TestSniff(t *testing.T) {
	raw := payload(4096)
	for _, f := range streamed[1:] {
		if got := Sniff(imagetest.Encode(t, f, raw)); got != f {
			t.Errorf("Sniff(%s data) = %q", f, got)
		}
	}
	if got := Sniff(raw); got != "" {
		t.Errorf("Sniff(raw) = %q, want none", got)
	}
}
