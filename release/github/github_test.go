package github_test

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/bty-lab/bty/release/fakes"
	"github.com/bty-lab/bty/release/github"
)

func TestReleaseIdempotent(t *testing.T) {
	f := &fakes.GitHub{Repo: "o/r", Token: "gh-test", Releases: map[string]*github.Release{}}
	srv := httptest.NewServer(f)
	defer srv.Close()
	c := &github.Client{API: srv.URL, Uploads: srv.URL, Repo: "o/r", Token: "gh-test", HTTP: srv.Client()}
	ctx := context.Background()
	nolog := func(string, ...any) {}
	for run := 0; run < 2; run++ {
		rel, err := c.Ensure(ctx, "v1.0.0")
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"a.efi", "release.toml"} {
			if err := c.Upload(ctx, rel, name, []byte("bytes of "+name), nolog); err != nil {
				t.Fatal(err)
			}
		}
	}
	if len(f.Releases) != 1 || f.Uploads != 2 {
		t.Errorf("%d releases, %d uploads; want 1 and 2 after two runs", len(f.Releases), f.Uploads)
	}
	rel, _ := c.Ensure(ctx, "v1.0.0")
	if err := c.Upload(ctx, rel, "a.efi", []byte("other bytes"), nolog); err == nil || !strings.Contains(err.Error(), "refusing to replace") {
		t.Errorf("same name, other digest: %v", err)
	}
	bad := *c
	bad.Token = "nope"
	if _, err := bad.Ensure(ctx, "v2.0.0"); err == nil || strings.Contains(err.Error(), "nope") {
		t.Errorf("bad token: %v (must fail without echoing the token)", err)
	}
}
