// Command bty-tftp serves a directory (the iPXE binaries and autoexec.ipxe)
// read-only over TFTP.
package main

import (
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/bty-lab/bty/bty/tftp"
	"github.com/bty-lab/bty/bty/version"
)

func main() {
	root := flag.String("root", envOr("BTY_TFTP_ROOT", "/var/lib/bty/tftp"), "directory to serve (env BTY_TFTP_ROOT)")
	listen := flag.String("listen", envOr("BTY_TFTP_LISTEN", ":69"), "UDP address to listen on (env BTY_TFTP_LISTEN)")
	maxTransfers := flag.Int("max-transfers", tftp.DefaultMaxTransfers, "concurrent transfers; more requests are refused as busy")
	maxPerPeer := flag.Int("max-per-peer", tftp.DefaultMaxPerPeer, "concurrent transfers of one address; more of its requests are refused as busy")
	web := flag.String("web-url", os.Getenv("BTY_TFTP_WEB_URL"), "bty-web's URL as machines reach it (http://HOST:PORT): the chain scripts autoexec.ipxe and grub/grub.cfg are served naming it; empty: DHCP's next-server, port 8080 (env BTY_TFTP_WEB_URL)")
	showVersion := flag.Bool("version", false, "print the version and exit")
	flag.Parse()
	if *showVersion {
		fmt.Println("bty-tftp", version.String())
		return
	}
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	srv, err := tftp.New(*root, log, tftp.Options{MaxTransfers: *maxTransfers, MaxPerPeer: *maxPerPeer, Web: *web})
	if err != nil {
		log.Error("bty-tftp failed", "err", err)
		os.Exit(1)
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	stopped := make(chan struct{})
	go func() {
		<-sig
		log.Info("shutting down; waiting for transfers in flight")
		srv.Shutdown()
		close(stopped)
	}()
	log.Info("bty-tftp serving", "root", *root, "listen", *listen, "web", *web, "version", version.String())
	if err := srv.ListenAndServe(*listen); err != nil {
		log.Error("bty-tftp failed", "err", err)
		os.Exit(1)
	}
	// ListenAndServe returns as soon as the socket closes; the transfers in
	// flight end when Shutdown returns.
	<-stopped
	log.Info("stopped")
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
