package runfiles

import (
	"os"
	"path/filepath"
	"testing"
)

func TestPath(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "_main", "x"), 0o755)
	os.WriteFile(filepath.Join(dir, "_main", "x", "f"), []byte("f"), 0o644)
	t.Setenv("RUNFILES_DIR", dir)
	if p, err := Path("_main/x/f"); err != nil || p != filepath.Join(dir, "_main", "x", "f") {
		t.Errorf("Path = %q, %v", p, err)
	}
	if _, err := Path("_main/x/missing"); err == nil {
		t.Error("a missing runfile was found")
	}
	if _, err := Path(""); err == nil {
		t.Error("an empty path was accepted")
	}
}
