package web

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
)

// BenchmarkScript is the fleet bench's script phase without its network
// and load generator: a thousand known machines ask for their per-MAC
// scripts, 64 at a time. Profile it with -cpuprofile (it found SQLite
// compiling every statement anew: 460 -> 338 us a script).
func BenchmarkScript(b *testing.B) {
	dir := b.TempDir()
	cfg := testConfig(dir)
	srv, err := New(context.Background(), cfg, "1.4.0", slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		b.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	defer srv.Close()
	c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}}
	get := func(i int64) {
		resp, err := c.Get(fmt.Sprintf("%s/pxe/52:54:00:00:%02x:%02x?arch=x86_64&platform=efi", ts.URL, (i/256)%256, i%256))
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	for i := range int64(1000) {
		get(i)
	}
	var n atomic.Int64
	b.ReportAllocs()
	b.SetParallelism(64)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			get(n.Add(1) % 1000)
		}
	})
}
