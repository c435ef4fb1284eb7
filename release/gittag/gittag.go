// Package gittag creates the release tag and pushes it, idempotently: a tag
// already present locally or on the remote is left as it is.
package gittag

import (
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// Tagger tags one checkout.
type Tagger struct {
	Dir    string // the checkout
	Remote string // remote name or URL to push to
	Token  string // for HTTPS remotes; passed to git in its environment, never on a command line
}

func (t Tagger) git(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "git", append([]string{"-C", t.Dir}, args...)...)
	cmd.Env = os.Environ()
	if t.Token != "" {
		auth := base64.StdEncoding.EncodeToString([]byte("x-access-token:" + t.Token))
		cmd.Env = append(cmd.Env, "GIT_CONFIG_COUNT=1", "GIT_CONFIG_KEY_0=http.extraHeader", "GIT_CONFIG_VALUE_0=Authorization: Basic "+auth)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("git %s: %v: %s", args[0], err, strings.TrimSpace(string(out)))
	}
	return strings.TrimSpace(string(out)), nil
}

// Tag makes tag point at HEAD (if it does not exist) and pushes it (if the
// remote lacks it).
func (t Tagger) Tag(ctx context.Context, tag string, log func(string, ...any)) error {
	if _, err := t.git(ctx, "rev-parse", "-q", "--verify", "refs/tags/"+tag); err != nil {
		if _, err := t.git(ctx, "tag", tag); err != nil {
			return err
		}
		log("tagged %s", tag)
	}
	remote, err := t.git(ctx, "ls-remote", "--tags", t.Remote, "refs/tags/"+tag)
	if err != nil {
		return err
	}
	if remote != "" {
		log("%s already on %s; not pushed", tag, t.Remote)
		return nil
	}
	if _, err := t.git(ctx, "push", t.Remote, "refs/tags/"+tag); err != nil {
		return err
	}
	log("pushed %s", tag)
	return nil
}

// CommitTime is when the checkout's HEAD was committed: the release time
// recorded in release.toml, the same on every run of one release.
func (t Tagger) CommitTime(ctx context.Context) (time.Time, error) {
	out, err := t.git(ctx, "log", "-1", "--format=%ct", "HEAD")
	if err != nil {
		return time.Time{}, err
	}
	n, err := strconv.ParseInt(out, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("commit time %q: %w", out, err)
	}
	return time.Unix(n, 0).UTC(), nil
}
