package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/wdscapture/wdscapture/store/server"
)

func init() {
	register(command{name: "serve", order: 40, args: "[--listen ADDR] [--config FILE] [--tls-cert F --tls-key F]",
		summary: "run the HTTPS server the capture agent uploads to (TLS 1.3)", run: runServe})
	register(command{name: "cert", order: 41, args: "[--host NAME]...",
		summary: "print the server certificate's SHA-256 fingerprint (making the self-signed one if needed)", run: runCert})
}

func runServe(c *cli, args []string) error {
	f := newFlags(c, "serve", "[--listen ADDR] [--config FILE] [--tls-cert F --tls-key F]",
		`Serve the store over HTTPS (TLS 1.3 only) for the capture agent: login, enumeration,
the dedup query and resumable uploads (store/PROTOCOL.md). Settings come from
ROOT/Server/serve.json (or --config FILE) and these flags, which win.

On first start a self-signed certificate is made in ROOT/Server/tls (key mode 0600);
its SHA-256 fingerprint is printed at every start: give it to the agents
(WDSCapture.inf). --tls-cert/--tls-key use a CA-issued certificate instead
(reloaded when the files change). Users are in ROOT/Server/users (imagestore user).
SIGINT or SIGTERM stops the server gracefully: uploads in flight resume later.`, true)
	listen := f.String("listen", "", "address to listen on, host:port (default :8443)")
	config := f.String("config", "", "JSON settings file (default ROOT/Server/serve.json, when it exists)")
	cert := f.String("tls-cert", "", "PEM certificate (chain) issued by a CA")
	key := f.String("tls-key", "", "PEM private key of --tls-cert (mode 0600)")
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usagef("serve takes no arguments")
	}
	if (*cert == "") != (*key == "") {
		return usagef("--tls-cert and --tls-key go together")
	}
	root, err := f.rootDir()
	if err != nil {
		return err
	}
	path, optional := *config, false
	if path == "" {
		path, optional = server.ConfigPath(root), true
	}
	cfg, err := server.LoadConfig(path, optional)
	if err != nil {
		return err
	}
	cfg.Root = root
	if *listen != "" {
		cfg.Listen = *listen
	}
	if *cert != "" {
		cfg.TLSCert, cfg.TLSKey = *cert, *key
	}
	if _, err := os.Stat(root); err != nil {
		return fmt.Errorf("store root: %w", err)
	}
	log := server.NewLogger(c.stderr, cfg.LogFormat)
	err = server.Run(c.ctx, cfg, c.stdout, log)
	if errors.Is(err, c.ctx.Err()) {
		return nil
	}
	return err
}

func runCert(c *cli, args []string) error {
	f := newFlags(c, "cert", "[--host NAME]...",
		"Print the SHA-256 fingerprint of the server's self-signed certificate, making it\n(for the host name, localhost, loopback and each --host) if it does not exist yet.", true)
	var hosts multiFlag
	f.Var(&hosts, "host", "DNS name or IP address the certificate is for (repeatable; used only when making it)")
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usagef("cert takes no arguments")
	}
	root, err := f.rootDir()
	if err != nil {
		return err
	}
	if _, err := os.Stat(root); err != nil {
		return fmt.Errorf("store root: %w", err)
	}
	cert, created, err := server.EnsureSelfSigned(root, hosts)
	if err != nil {
		return err
	}
	certPath, _ := server.SelfSignedPaths(root)
	if created {
		fmt.Fprintf(c.stderr, "made a self-signed certificate: %s\n", certPath)
	}
	fmt.Fprintln(c.stdout, server.Fingerprint(cert.Certificate[0]))
	return nil
}
