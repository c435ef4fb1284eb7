package remotecache

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bty-lab/bty/internal/testenv"
)

func TestParseStats(t *testing.T) {
	st, err := ParseStats("INFO: Elapsed time: 3.1s\nINFO: 12 processes: 9 remote cache hit, 2 internal, 1 processwrapper-sandbox.\nINFO: Build completed successfully, 12 total actions\n")
	if err != nil {
		t.Fatal(err)
	}
	if st.Processes != 12 || st.Cacheable() != 10 || st.RemoteHits() != 9 || st.Local() != 1 || st.HitRate() != 0.9 {
		t.Errorf("%+v: cacheable %d, local %d", st, st.Cacheable(), st.Local())
	}
	if st, _ := ParseStats("INFO: 1 process: 1 internal.\n"); st.Cacheable() != 0 || st.HitRate() != 1 {
		t.Errorf("internal only: %+v", st)
	}
	if _, err := ParseStats("ERROR: no summary\n"); err == nil {
		t.Error("parsed output without a summary")
	}
}

func TestMisses(t *testing.T) {
	log := filepath.Join(t.TempDir(), "exec.json")
	os.WriteFile(log, []byte(`{"mnemonic": "GoCompilePkg", "runner": "remote cache hit", "cacheable": true, "remotable": true}
{"mnemonic": "GoLink", "runner": "processwrapper-sandbox", "cacheable": true, "remotable": true}
{"mnemonic": "GoLink", "runner": "processwrapper-sandbox", "cacheable": true, "remotable": true}
{"mnemonic": "Genrule", "runner": "local", "cacheable": false, "remotable": false}
`), 0o644)
	got, err := Misses(log)
	want := []string{"   2 GoLink (cache miss, processwrapper-sandbox)", "   1 Genrule (not cacheable, local)"}
	if err != nil || strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("Misses = %q, %v; want %q", got, err, want)
	}
}

// A workspace of a Go library and a binary, as small as a real build gets.
var workspace = map[string]string{
	"MODULE.bazel": `module(name = "cachetest")

bazel_dep(name = "rules_go", version = "0.59.0")

go_sdk = use_extension("@rules_go//go:extensions.bzl", "go_sdk")
go_sdk.host()
`,
	"BUILD.bazel": `load("@rules_go//go:def.bzl", "go_binary")

go_binary(
    name = "hello",
    srcs = ["main.go"],
    deps = ["//lib"],
)
`,
	"main.go": "package main\n\nimport \"example.com/cachetest/lib\"\n\nfunc main() { println(lib.Greeting()) }\n",
	"lib/BUILD.bazel": `load("@rules_go//go:def.bzl", "go_library")

go_library(
    name = "lib",
    srcs = ["lib.go"],
    importpath = "example.com/cachetest/lib",
    visibility = ["//visibility:public"],
)
`,
	"lib/lib.go": "package lib\n\n// Greeting is what hello prints.\nfunc Greeting() string { return \"hello from the cache test\" }\n",
}

// rcLines keeps the lines of the repository's .bazelrc that configure
// every command, the offline toolchain and the remote cache, with %workspace% pointing at the
// repository: the small workspace builds exactly as the repository does.
func rcLines(rc []byte, repo string) string {
	var out []string
	for _, l := range strings.Split(string(rc), "\n") {
		if strings.HasPrefix(l, "common ") || strings.HasPrefix(l, "common:offline ") || strings.HasPrefix(l, "build:remote ") {
			out = append(out, strings.ReplaceAll(l, "%workspace%", repo))
		}
	}
	return strings.Join(out, "\n") + "\n"
}

func write(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestSecondRunnerHitsTheCache is CI on two fresh runners at small scale:
// the first builds and uploads, the second (another output base, another
// checkout path) executes nothing itself. Then: a blob changed on the
// server does not become a wrong artifact, and a cache that cannot be
// reached slows a build down but does not fail it.
func TestSecondRunnerHitsTheCache(t *testing.T) {
	bazelBin := testenv.Tool(t, "bazel", "bazel-bootstrap")
	server := testenv.Runfile(t, "BTY_BAZEL_REMOTE", "//tools/remotecache:remotecache_test")
	rcPath := testenv.Runfile(t, "BTY_BAZELRC", "//tools/remotecache:remotecache_test")
	goTool := testenv.Runfile(t, "BTY_GO", "//tools/remotecache:remotecache_test")
	real, err := filepath.EvalSymlinks(rcPath)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := os.ReadFile(real)
	if err != nil {
		t.Fatal(err)
	}
	// The Go SDK rules_go builds with (go_sdk.host(): the toolchain
	// tools/bazel put on PATH) comes with the go tool's runfiles; the
	// nested Bazel finds it the same way, on PATH.
	goBin := testenv.GoSDK(t, goTool)
	tmp := t.TempDir()
	env := []string{"PATH=" + goBin + ":/usr/bin:/bin", "HOME=" + tmp, "USER=root", "LANG=C.UTF-8"}

	srv, err := Start(server, filepath.Join(tmp, "store"))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	files := map[string]string{".bazelrc": rcLines(rc, filepath.Dir(real))}
	for k, v := range workspace {
		files[k] = v
	}
	runner := func(name string) Bazel {
		ws := filepath.Join(tmp, name, "src")
		write(t, ws, files)
		b := Bazel{Bin: bazelBin, Workspace: ws, OutputUserRoot: filepath.Join(tmp, name, "out"), Env: env}
		t.Cleanup(b.Shutdown)
		return b
	}

	first := runner("runner-1")
	st1, _, err := first.Build(srv.CacheFlags(), "//:hello")
	if err != nil {
		t.Fatal(err)
	}
	if st1.Local() == 0 || st1.RemoteHits() != 0 {
		t.Fatalf("first build, empty cache: %+v", st1)
	}
	binary := func(b Bazel) string { return filepath.Join(b.Workspace, "bazel-bin/hello_/hello") }
	want := testenv.FileSHA256(t, binary(first))

	second := runner("runner-2")
	st2, out, err := second.Build(srv.CacheFlags(), "//:hello")
	if err != nil {
		t.Fatal(err)
	}
	if st2.Local() != 0 || st2.RemoteHits() == 0 || st2.RemoteHits() != st2.Cacheable() {
		t.Fatalf("second runner executed %d actions itself (stats %+v):\n%s", st2.Local(), st2, tail(out, 20))
	}
	if got := testenv.FileSHA256(t, binary(second)); got != want {
		t.Fatalf("the second runner's binary differs: %s, want %s", got, want)
	}
	status, _ := srv.Status()
	t.Logf("first runner: %d actions, %d local, %s; second: %d of %d cacheable from the cache, %s; store %d files, %d bytes",
		st1.Processes, st1.Local(), st1.Elapsed.Round(1e8), st2.RemoteHits(), st2.Cacheable(), st2.Elapsed.Round(1e8), status.NumFiles, status.CurrSize)

	// Change the binary's bytes on the server, keeping their length.
	var blob string
	filepath.WalkDir(srv.Dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.Contains(filepath.Base(p), want) {
			blob = p
		}
		return nil
	})
	if blob == "" {
		t.Fatalf("no blob named after %s in the store", want)
	}
	b, err := os.ReadFile(blob)
	if err != nil {
		t.Fatal(err)
	}
	tampered := bytes.Clone(b)
	for i := len(tampered) / 2; i < len(tampered)/2+64 && i < len(tampered); i++ {
		tampered[i] ^= 0xFF
	}
	if err := os.WriteFile(blob, tampered, 0o644); err != nil {
		t.Fatal(err)
	}
	third := runner("runner-3")
	st3, out, err := third.Build(srv.CacheFlags(), "//:hello")
	switch {
	case err != nil && !strings.Contains(strings.ToLower(out), "digest"):
		t.Errorf("with a tampered blob the build failed, but not for its digest:\n%s", tail(out, 30))
	case err == nil && testenv.FileSHA256(t, binary(third)) != want:
		t.Errorf("a tampered blob became the artifact (stats %+v)", st3)
	default:
		t.Logf("tampered blob: build error %v, %d actions rebuilt locally; the artifact is right or absent", err != nil, st3.Local())
	}

	// A cache nobody answers at: the build still succeeds, locally.
	write(t, first.Workspace, map[string]string{"lib/lib.go": strings.Replace(workspace["lib/lib.go"], "cache test", "cache test, changed", 1)})
	dead := &Server{GRPC: "grpc://127.0.0.1:1"}
	st4, out, err := first.Build(dead.CacheFlags(), "//:hello")
	if err != nil {
		t.Fatalf("an unreachable cache failed the build:\n%s", tail(out, 30))
	}
	if st4.Local() == 0 {
		t.Errorf("unreachable cache: %+v", st4)
	}
	if testenv.FileSHA256(t, binary(first)) == want {
		t.Error("the changed source did not change the binary")
	}
}
