package catalog

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// FuzzParse checks, for any input, that Parse never panics and that whatever
// it accepts is valid by construction: canonical sources, known formats,
// unique names and refs, and an encoding that parses back to itself.
func FuzzParse(f *testing.F) {
	f.Add([]byte("version = 1\n"))
	f.Add([]byte("version = 1\n[[images]]\nname = \"a\"\nsrc = \"https://h/a.img.zst\"\nsha256 = \"" + digest + "\"\nsize_bytes = 5\narch = \"x86_64\"\n"))
	f.Add([]byte("version = 1\n[[images]]\nname = \"b.qcow2\"\nsrc = \"oras://r.example/x:1\"\n"))
	f.Add([]byte("version = 1\n[[images]]\nname = \"c\"\nsrc = \"http://[::1]:80/c.IMG?x=1\"\nformat = \"img\"\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data)
		if err != nil {
			if c != nil {
				t.Fatalf("catalog returned with error %v", err)
			}
			return
		}
		names, refs := map[string]bool{}, map[string]bool{}
		for _, img := range c.Images {
			if canon, err := CanonicalSrc(img.Src); err != nil || canon != img.Src {
				t.Fatalf("accepted src %q is not canonical: %q, %v", img.Src, canon, err)
			}
			if _, err := ParseFormat(string(img.Format)); err != nil {
				t.Fatalf("accepted image %q has format %q: %v", img.Name, img.Format, err)
			}
			if names[img.Name] || refs[img.Ref()] {
				t.Fatalf("duplicate name or ref accepted: %q", img.Name)
			}
			names[img.Name], refs[img.Ref()] = true, true
		}
		out, err := c.Encode()
		if err != nil {
			t.Fatalf("Encode: %v", err)
		}
		again, err := Parse(out)
		if err != nil {
			t.Fatalf("encoded catalog does not parse: %v\n%s", err, out)
		}
		if diff := cmp.Diff(c, again); diff != "" {
			t.Fatalf("round trip changed the catalog (-first +second):\n%s", diff)
		}
	})
}
