// Command cachebench measures what the remote cache saves CI: it starts
// bazel-remote on loopback with an empty store, builds the release
// artifacts (what //:verify pins, asked from Bazel) in a fresh clone with a
// fresh output base and no disk cache (a cold CI runner, uploading), then
// again in another fresh clone and output base (the next runner), and
// prints both wall times, the second build's remote cache hit rate and the
// bytes the cache holds.
//
//	tools/bazel run //tools/cachebench
//
// It needs a committed checkout (it clones HEAD) and about 3 GB in $TMPDIR.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/bazelbuild/rules_go/go/runfiles"

	"github.com/bty-lab/bty/tools/remotecache"
)

func main() {
	keep := flag.Bool("keep", false, "keep the clones, output bases and store")
	flag.Parse()
	if flag.NArg() != 1 {
		fail("usage: cachebench [-keep] BAZEL_REMOTE (tools/bazel run //tools/cachebench passes it)")
	}
	server, err := runfiles.Rlocation(flag.Arg(0))
	if err != nil {
		fail("finding bazel-remote: %v", err)
	}
	ws := os.Getenv("BUILD_WORKSPACE_DIRECTORY")
	if ws == "" {
		fail("run it with tools/bazel run //tools/cachebench")
	}
	tmp, err := os.MkdirTemp("", "cachebench-")
	if err != nil {
		fail("%v", err)
	}
	if !*keep {
		defer os.RemoveAll(tmp)
	}
	if err := run(ws, tmp, server); err != nil {
		fail("%v", err)
	}
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "cachebench: "+format+"\n", args...)
	os.Exit(1)
}

func say(format string, args ...any) { fmt.Printf("cachebench: "+format+"\n", args...) }

// env is the nested Bazel's environment: the client's, without what `bazel
// run` adds for its own binary.
func env() []string {
	var out []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "PATH", "HOME", "USER", "LANG", "GOPROXY", "GOSUMDB", "GOTOOLCHAIN", "BTY_DEBIAN_MIRROR", "TMPDIR":
			out = append(out, kv)
		}
	}
	return out
}

func run(ws, tmp, server string) error {
	srv, err := remotecache.Start(server, filepath.Join(tmp, "store"))
	if err != nil {
		return err
	}
	defer srv.Stop()
	say("bazel-remote at %s, empty store in %s", srv.GRPC, srv.Dir)

	runner := func(name string) (remotecache.Bazel, error) {
		src := filepath.Join(tmp, name, "src")
		if out, err := exec.Command("git", "clone", "--quiet", "--no-hardlinks", ws, src).CombinedOutput(); err != nil {
			return remotecache.Bazel{}, fmt.Errorf("git clone %s: %v\n%s", ws, err, out)
		}
		return remotecache.Bazel{Bin: "bazel", Workspace: src, OutputUserRoot: filepath.Join(tmp, name, "out"), Env: env()}, nil
	}
	first, err := runner("runner-1")
	if err != nil {
		return err
	}
	defer first.Shutdown()
	q := exec.Command("bazel", "--output_user_root="+first.OutputUserRoot, "query", "--output=label", "labels(artifacts, //:verify)")
	q.Dir, q.Env = first.Workspace, first.Env
	out, err := q.Output()
	if err != nil {
		return fmt.Errorf("asking Bazel for //:verify's artifacts: %w", err)
	}
	targets := strings.Fields(string(out))
	say("building %d release artifacts: %s", len(targets), strings.Join(targets, " "))

	st1, _, err := first.Build(srv.CacheFlags(), targets...)
	if err != nil {
		return err
	}
	say("runner 1 (cold, uploading): %s, %d actions, %d executed here", st1.Elapsed.Round(1e9), st1.Processes, st1.Local())

	second, err := runner("runner-2")
	if err != nil {
		return err
	}
	defer second.Shutdown()
	execLog := filepath.Join(tmp, "runner-2", "exec.json")
	st2, _, err := second.Build(append(srv.CacheFlags(), "--execution_log_json_file="+execLog), targets...)
	if err != nil {
		return err
	}
	missed, err := remotecache.Misses(execLog)
	if err != nil {
		return err
	}
	status, err := srv.Status()
	if err != nil {
		return err
	}
	say("runner 2 (fresh clone and output base): %s, %d of %d cacheable actions from the remote cache (%.1f%%), %d executed here",
		st2.Elapsed.Round(1e9), st2.RemoteHits(), st2.Cacheable(), 100*st2.HitRate(), st2.Local())
	say("the cache holds %d blobs, %.1f MiB", status.NumFiles, float64(status.CurrSize)/(1<<20))
	for _, m := range missed {
		say("  executed on runner 2: %s", m)
	}
	return nil
}
