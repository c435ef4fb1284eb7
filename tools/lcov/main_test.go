package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const a = `SF:bty/mac/mac.go
DA:10,1
DA:11,0
DA:12,3
LH:2
LF:3
end_of_record
SF:/usr/lib/go/src/fmt/print.go
DA:1,1
end_of_record
`

const b = `SF:bty/mac/mac.go
DA:11,2
DA:13,0
LH:1
LF:2
end_of_record
SF:bty/auth/auth.go
DA:5,0
end_of_record
`

// Two tests' reports merge into one per file, counts summed, system
// sources filtered, in both of Bazel's invocations.
func TestMerge(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "a.dat"), []byte(a), 0o644)
	os.WriteFile(filepath.Join(dir, "b.dat"), []byte(b), 0o644)
	out := filepath.Join(dir, "_coverage.dat")
	os.WriteFile(out, nil, 0o644) // Bazel creates the output up front
	if err := run([]string{"--coverage_dir=" + dir, "--output_file=" + out, "--filter_sources=/usr/lib/.+", "--source_file_manifest=x"}); err != nil {
		t.Fatal(err)
	}
	want := `SF:bty/auth/auth.go
DA:5,0
LH:0
LF:1
end_of_record
SF:bty/mac/mac.go
DA:10,1
DA:11,2
DA:12,3
DA:13,0
LH:3
LF:4
end_of_record
`
	got, _ := os.ReadFile(out)
	if string(got) != want {
		t.Errorf("merged:\n%s\nwant:\n%s", got, want)
	}

	list := filepath.Join(dir, "reports")
	os.WriteFile(list, []byte(out+"\n"+filepath.Join(dir, "a.dat")+"\n"), 0o644)
	combined := filepath.Join(dir, "_coverage_report.dat")
	if err := run([]string{"--reports_file=" + list, "--output_file=" + combined}); err != nil {
		t.Fatal(err)
	}
	got, _ = os.ReadFile(combined)
	if !strings.Contains(string(got), "DA:11,2\n") || !strings.Contains(string(got), "DA:12,6\n") || !strings.Contains(string(got), "SF:/usr/lib/go/src/fmt/print.go\n") {
		t.Errorf("combined report:\n%s", got)
	}
}

func TestMalformed(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "bad.dat"), []byte("DA:1,1\n"), 0o644)
	if err := run([]string{"--coverage_dir=" + dir, "--output_file=" + filepath.Join(dir, "out")}); err == nil || !strings.Contains(err.Error(), "bad.dat") {
		t.Errorf("err = %v, want one naming the file", err)
	}
	if err := run([]string{"--coverage_dir=" + dir}); err == nil {
		t.Error("no --output_file accepted")
	}
}

func TestSummary(t *testing.T) {
	p := filepath.Join(t.TempDir(), "r.dat")
	os.WriteFile(p, []byte(a+b), 0o644)
	var out strings.Builder
	if err := printSummary(&out, p); err != nil {
		t.Fatal(err)
	}
	// mac.go: lines 10-13, hit 10,11,12 -> 3/4; auth.go 0/1; print.go 1/1.
	for _, want := range []string{"75.0%      3/4      bty/mac\n", "  0.0%      0/1      bty/auth\n", " 66.7%      4/6      total (3 files)\n"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, out.String())
		}
	}
}
