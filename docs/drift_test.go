package docs_test

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/bty-lab/bty/bty/cli"
	"github.com/bty-lab/bty/bty/config"
	"github.com/bty-lab/bty/bty/dhcpconf"
	"github.com/bty-lab/bty/bty/web"
	"github.com/bty-lab/bty/internal/testenv"
	"github.com/bty-lab/bty/tools/docs/book"
	"github.com/bty-lab/bty/tools/docs/markers"
)

// tables returns every table of the guide whose header starts with
// column, with the chapter it is in.
func tables(t *testing.T, column string) []struct {
	ch *book.Chapter
	t  book.Table
} {
	var out []struct {
		ch *book.Chapter
		t  book.Table
	}
	for _, ch := range load(t).Chapters {
		for _, tab := range ch.Tables() {
			if len(tab.Header) > 0 && tab.Header[0] == column {
				out = append(out, struct {
					ch *book.Chapter
					t  book.Table
				}{ch, tab})
			}
		}
	}
	if len(out) == 0 {
		t.Fatalf("no table with a %q column in the guide", column)
	}
	return out
}

// compare reports what one side has and the other lacks, naming both.
func compare(t *testing.T, docs map[string]string, code []string, docsName, codeName string) {
	t.Helper()
	for _, c := range code {
		if _, ok := docs[c]; !ok {
			t.Errorf("%s has %s, which %s does not document", codeName, c, docsName)
		}
	}
	for d, where := range docs {
		if !slices.Contains(code, d) {
			t.Errorf("%s documents %s, which %s does not have", where, d, codeName)
		}
	}
}

// The routes table is bty-web's router: every route, open, behind the
// cookie or behind a live boot's token as the router serves it.
func TestRoutes(t *testing.T) {
	docs := map[string]string{}
	auth := map[string]string{}
	for _, tab := range tables(t, "route") {
		for _, row := range tab.t.Rows {
			docs[row[0]] = tab.ch.Path
			auth[row[0]] = row[1]
		}
	}
	var code []string
	for _, r := range web.Routes() {
		code = append(code, r.Pattern)
		want := map[bool]string{true: "open", false: "cookie"}[r.Open]
		if r.Token {
			want = "token"
		}
		if a, ok := auth[r.Pattern]; ok && a != want {
			t.Errorf("%s says %s is %q; bty/web serves it %s", docs[r.Pattern], r.Pattern, a, want)
		}
		// The web UI's routes are in its chapter, the API's in bty-web's.
		if where, ok := docs[r.Pattern]; ok && strings.HasSuffix(where, "-web-ui.md") != r.Page {
			t.Errorf("%s documents %s, which is %s", where, r.Pattern, map[bool]string{true: "a page of the web UI", false: "part of the JSON API"}[r.Page])
		}
	}
	compare(t, docs, code, "the guide's routes table", "bty-web's router (bty/web, Server.routes)")
}

// The settings table is bty/config: every key, its variable and default.
func TestSettings(t *testing.T) {
	docs := map[string]string{}
	rows := map[string][]string{}
	for _, tab := range tables(t, "key") {
		for _, row := range tab.t.Rows {
			docs[row[0]] = tab.ch.Path
			rows[row[0]] = row
		}
	}
	var code []string
	for _, k := range config.Keys() {
		code = append(code, k.Name)
		row, ok := rows[k.Name]
		if !ok {
			continue
		}
		def := row[2]
		if def == "(empty)" {
			def = ""
		}
		if row[1] != k.Env || def != k.Default {
			t.Errorf("%s documents %s as %s, default %q; bty/config has %s, default %q", docs[k.Name], k.Name, row[1], row[2], k.Env, k.Default)
		}
	}
	compare(t, docs, code, "the guide's settings table", "bty/config (Config)")
}

// The exit codes table is bty's exit codes.
func TestExitCodes(t *testing.T) {
	docs := map[string]string{}
	for _, tab := range tables(t, "exit code") {
		for _, row := range tab.t.Rows {
			docs[row[0]] = tab.ch.Path
		}
	}
	var code []string
	for _, c := range cli.ExitCodes() {
		code = append(code, strconv.Itoa(c))
	}
	compare(t, docs, code, "the guide's exit codes table", "bty (bty/cli, ExitCodes)")
}

// flagTables maps a reference section ("bty flash") to the flags its table
// lists.
func flagTables(t *testing.T) map[string]map[string]string {
	out := map[string]map[string]string{}
	for _, tab := range tables(t, "flag") {
		flags := map[string]string{}
		for _, row := range tab.t.Rows {
			flags[row[0]] = tab.ch.Path + ", " + tab.t.Section
		}
		out[tab.t.Section] = flags
	}
	return out
}

// Every bty command has a reference section, and its flags table lists
// exactly the command's flags.
func TestCommands(t *testing.T) {
	docs := flagTables(t)
	sections := map[string]bool{}
	for _, ch := range load(t).Chapters {
		for _, h := range ch.Headings {
			sections[h.Text] = true
		}
	}
	var walk func(*cobra.Command)
	walk = func(c *cobra.Command) {
		for _, sub := range c.Commands() {
			if sub.Hidden || sub.Name() == "help" || sub.Name() == "completion" {
				continue
			}
			walk(sub)
		}
		if c.HasSubCommands() || !c.HasParent() {
			return
		}
		name := c.CommandPath()
		if !sections[name] {
			t.Errorf("bty/cli has the command %q, which the guide's reference has no section for", name)
			return
		}
		var code []string
		c.LocalFlags().VisitAll(func(f *pflag.Flag) {
			if f.Name != "help" {
				code = append(code, "--"+f.Name)
			}
		})
		compare(t, docs[name], code, "the reference's "+name+" table", "bty/cli's "+name)
	}
	walk(cli.New(io.Discard, io.Discard))
}

// bty-web's and bty-tftp's flags, as their -h prints them, are the
// reference's.
func TestServerFlags(t *testing.T) {
	docs := flagTables(t)
	for name, env := range map[string]string{"bty-web": "BTY_WEB_BIN", "bty-tftp": "BTY_TFTP_BIN"} {
		out, _ := exec.Command(testenv.Runfile(t, env, target), "-h").CombinedOutput()
		var code []string
		for _, m := range regexp.MustCompile(`(?m)^  -([a-z-]+)`).FindAllStringSubmatch(string(out), -1) {
			code = append(code, "--"+m[1])
		}
		if len(code) == 0 {
			t.Fatalf("%s -h shows no flags:\n%s", name, out)
		}
		compare(t, docs[name], code, "the reference's "+name+" table", name+" -h")
	}
}

// Every console line the guide documents is one the code prints.
func TestConsoleLines(t *testing.T) {
	srcs := map[string][]byte{}
	for _, p := range testenv.Runfiles(t, "BTY_DOCS_CONSOLE_SRCS", target) {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		srcs[p[strings.Index(p, "bty/"):]] = b
	}
	lines, err := markers.Scan(srcs)
	if err != nil {
		t.Fatal(err)
	}
	if len(lines) < 30 {
		t.Fatalf("found only %d console lines in %d files", len(lines), len(srcs))
	}
	n := 0
	for _, tab := range tables(t, "marker") {
		for _, row := range tab.t.Rows {
			n++
			if len(markers.Printed(lines, row[0])) == 0 {
				t.Errorf("%s documents the console line %q, which no code prints (%s)", tab.ch.Path, row[0], packagesOf(srcs))
			}
		}
	}
	if n < 15 {
		t.Errorf("only %d console lines documented", n)
	}
}

func packagesOf(srcs map[string][]byte) string {
	var pkgs []string
	for p := range srcs {
		d := p[:strings.LastIndex(p, "/")]
		if !slices.Contains(pkgs, d) {
			pkgs = append(pkgs, d)
		}
	}
	slices.Sort(pkgs)
	return fmt.Sprintf("searched %s", strings.Join(pkgs, ", "))
}

// The PXE chapter's and the README's DHCP rules are package dhcpconf's,
// which the web UI's setup page fills in with the server's own address:
// written once.
func TestDHCPRules(t *testing.T) {
	srv := dhcpconf.Server{Host: "192.0.2.10", Port: "8080"}
	docs := map[string][]byte{}
	for _, ch := range load(t).Chapters {
		if ch.Name == "03-pxe" {
			docs[ch.Path] = ch.Source
		}
	}
	if len(docs) == 0 {
		t.Fatal("no chapter 03-pxe")
	}
	readme := filepath.Join("..", "README.md") // plain go test, in docs/
	if os.Getenv("BTY_README") != "" {
		readme = testenv.Runfile(t, "BTY_README", target)
	}
	b, err := os.ReadFile(readme)
	if err != nil {
		t.Fatal(err)
	}
	docs["README.md"] = b
	for path, src := range docs {
		for name, rules := range map[string]string{"dnsmasq": srv.Dnsmasq(), "Kea": srv.Kea()} {
			if !strings.Contains(string(src), "\n"+rules+"```") {
				t.Errorf("%s's %s rules are not bty/dhcpconf's for %s; they should read:\n%s", path, name, srv.Host, rules)
			}
		}
	}
}
