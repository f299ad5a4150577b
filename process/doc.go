// Package process runs agents as supervised child processes: the core of
// the BuildKit's process driver (issue 15), without routes, store or wiring.
//
// A Driver starts a Spec's command in its own process group with a free
// loopback port in PORT (and HOST=127.0.0.1), captures its stdout and stderr
// into a bounded Log that callers can follow, and reports the process running
// only once GET http://127.0.0.1:PORT/health answers 200. An unexpected exit
// is restarted with exponential backoff until the Spec's restart limit, after
// which the process fails with a reason that says how it last exited and what
// it printed last. Stop sends SIGTERM to the whole group, waits the grace
// period and then sends SIGKILL. Every state change, restart and exit is an
// Event.
//
// On Linux the child also gets Pdeathsig=SIGKILL, so it dies with the driver,
// and resource limits are applied with prlimit(2). A grandchild outlives a
// killed driver; KillGroup, given the process group recorded by the previous
// run, reconciles that on the next start. docs/process-driver.md has the
// guarantees and what is Linux-only.
package process
