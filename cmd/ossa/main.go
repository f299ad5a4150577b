// Command ossa is OSSA Platform's one binary: `ossa serve` runs the gateway,
// and the other verbs talk to a running gateway.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/ossa-platform/platform"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv))
}

const usage = `Usage: ossa <command> [arguments]

Commands:
  serve      run the gateway (see ossa serve -h)
  agents     list, get, search, register and delete agents on a running gateway
  workflows  list, get, create and delete stored workflows
  runs       list, show and cancel workflow runs
  run        start a run of a workflow, and follow it with --follow
  events     print the gateway's events as they happen
  execute    call one agent through the gateway
  keys       make, list and revoke API keys
  secrets    set, list and delete the secrets agents authenticate with; rotate their key
  validate   check OSSA manifests against their release's schema
  audit      list the audit log: every change and every denied request
  reindex    embed every agent again and rebuild the discovery index
  version    print the version

Environment: OSSA_SERVER is the gateway the client commands talk to
(default http://localhost:3100); OSSA_API_KEY the key they send (default: for a
gateway on this machine, the admin key in $OSSA_DATA_DIR/admin.key, ./data by default);
OSSA_CA_FILE, a PEM file of certificate authorities they trust besides the system's,
for an https:// gateway.
`

// run is main without the process: tests call it with their own arguments,
// streams and environment. It returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "serve":
		return runServe(ctx, args[1:], stdout, stderr, getenv)
	case "agents":
		return runAgents(ctx, args[1:], stdout, stderr, getenv)
	case "workflows":
		return runWorkflows(ctx, args[1:], stdout, stderr, getenv)
	case "runs":
		return runRuns(ctx, args[1:], stdout, stderr, getenv)
	case "run":
		return runRun(ctx, args[1:], stdout, stderr, getenv)
	case "events":
		return runEvents(ctx, args[1:], stdout, stderr, getenv)
	case "execute":
		return runExecute(ctx, args[1:], stdout, stderr, getenv)
	case "keys":
		return runKeys(ctx, args[1:], stdout, stderr, getenv)
	case "secrets":
		return runSecrets(ctx, args[1:], stdout, stderr, getenv)
	case "validate":
		return runValidate(ctx, args[1:], stdout, stderr)
	case "audit":
		return runAudit(ctx, args[1:], stdout, stderr, getenv)
	case "reindex":
		return runReindex(ctx, args[1:], stdout, stderr, getenv)
	case "version", "--version":
		fmt.Fprintln(stdout, "ossa", platform.Version)
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "ossa: unknown command %q\n\n%s", args[0], usage)
	return 2
}

// runServe runs the gateway until ctx ends (SIGINT or SIGTERM), then drains
// the requests in flight.
func runServe(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	cfg, err := LoadConfig(args, getenv, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintf(stderr, "ossa serve: %v\n", err)
		return 2
	}
	m := NewMain(cfg, stderr)
	m.Out = stdout
	if err := m.Open(ctx); err != nil {
		fmt.Fprintf(stderr, "ossa serve: %v\n", err)
		_ = m.Close(context.Background()) // what opened before the failure
		return 1
	}
	<-ctx.Done()
	m.Logger.Info("shutting down; draining requests in flight", "timeout", cfg.ShutdownTimeout.String())
	shutdownCtx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if err := m.Close(shutdownCtx); err != nil {
		m.Logger.Error("shutdown", "error", err.Error())
		return 1
	}
	m.Logger.Info("stopped")
	return 0
}
