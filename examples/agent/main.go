// Command agent is the example agent of OSSA Platform's quick start: a small
// HTTP server that speaks the gateway's agent contract
// (docs/agent-protocol.md) with the standard library only.
//
// It answers three capabilities, deterministically and without any LLM, so
// that a workflow across them can be run and checked anywhere:
//
//	summarize  {"text": "...", "max_words": 25}  →  {"summary": "...", "words": 12}
//	fetch      {"repo": "acme/api"}              →  a made-up latest change of the repository, with its diff
//	review     {"diff": "diff --git ..."}        →  {"findings": [...], "approved": false, "summary": "..."}
//
// Run it with
//
//	go run ./examples/agent            # listens on :9001
//	go run ./examples/agent -addr :9100
//
// and register it with the gateway under any name, once for each capability
// or once for all of them: examples/agents/ holds its OSSA manifests. It
// stops cleanly on SIGINT or SIGTERM.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

func main() {
	addr := flag.String("addr", ":9001", "the `address` to listen on, host:port (an empty host: every interface)")
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("example agent: ")

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// Listening before serving makes the line run prints true: the port
	// accepts connections from then on.
	ln, err := net.Listen("tcp", *addr)
	if err == nil {
		err = run(ctx, ln)
	}
	if err != nil {
		log.Print(err)
		os.Exit(1)
	}
}

// run serves on ln until ctx ends, then lets the calls in flight finish.
func run(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           newAgent().routes(),
		ReadHeaderTimeout: 10 * time.Second,
	}
	log.Printf("listening on %s (capabilities: %s)", displayURL(ln.Addr()), strings.Join(capabilityNames(), ", "))

	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	log.Print("stopped")
	return nil
}

// displayURL is the URL to register the agent at: localhost for a listener
// on every interface.
func displayURL(a net.Addr) string {
	host, port, _ := net.SplitHostPort(a.String())
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port)
}
