package gittag

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bty-lab/bty/internal/testenv"
)

func run(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", append([]string{"-C", dir}, args...)...)
	cmd.Env = append(cmd.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.invalid", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.invalid")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return string(out)
}

// The tag is created and pushed to a bare repository once; a second run
// changes nothing.
func TestTagAndPushOnce(t *testing.T) {
	testenv.Tool(t, "git", "git")
	bare := filepath.Join(t.TempDir(), "remote.git")
	work := t.TempDir()
	run(t, work, "init", "-q", bare, "--bare")
	run(t, work, "init", "-q")
	run(t, work, "commit", "-q", "--allow-empty", "-m", "release")
	var log []string
	tg := Tagger{Dir: work, Remote: bare}
	for range 2 {
		if err := tg.Tag(context.Background(), "v1.2.3", func(f string, a ...any) { log = append(log, f) }); err != nil {
			t.Fatal(err)
		}
	}
	if got := run(t, bare, "tag"); strings.TrimSpace(got) != "v1.2.3" {
		t.Errorf("remote tags: %q", got)
	}
	if strings.Join(log, "|") != "tagged %s|pushed %s|%s already on %s; not pushed" {
		t.Errorf("log: %q", log)
	}
}
