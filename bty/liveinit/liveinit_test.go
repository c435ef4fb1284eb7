package liveinit

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestParseCmdline(t *testing.T) {
	c := ParseCmdline("BOOT_IMAGE=x console=ttyS0,115200 fetch=http://10.0.2.2:8080/boot/a.squashfs bty.server=http://10.0.2.2:8080 bty.mac=52:54:00:AA:BB:CC quiet\n")
	if c.Fetch != "http://10.0.2.2:8080/boot/a.squashfs" || c.Server != "http://10.0.2.2:8080" || c.MAC != "52:54:00:aa:bb:cc" {
		t.Errorf("ParseCmdline = %+v", c)
	}
}

func TestFetchProgressAndErrors(t *testing.T) {
	data := bytes.Repeat([]byte("squash"), 100000)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/ok" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(data)))
		w.Write(data)
	}))
	defer ts.Close()
	var out bytes.Buffer
	i := &Init{Out: &out}
	dst := filepath.Join(t.TempDir(), "live.squashfs")
	if err := i.Fetch(context.Background(), ts.URL+"/ok", dst); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(dst); !bytes.Equal(got, data) {
		t.Error("fetched file differs")
	}
	if strings.Count(out.String(), "bty-init: fetch ") != 4 || !strings.Contains(out.String(), "fetch 100%") {
		t.Errorf("progress lines:\n%s", out.String())
	}
	if err := i.Fetch(context.Background(), ts.URL+"/missing", dst); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("missing file: %v", err)
	}
}
