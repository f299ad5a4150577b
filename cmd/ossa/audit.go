package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/ossa-platform/platform"
	ohttp "github.com/ossa-platform/platform/http"
)

const auditUsage = `Usage: ossa audit [flags]

Lists the gateway's audit log, newest first: every change (agent.create,
workflow.update, run.cancel...) and every denied request, with who asked,
from where and in which request. It needs the admin scope.

Flags:
  --namespace NS       only records of this namespace; repeat, or separate with commas
  --principal SUBJECT  only records of this caller (an API key's ID, a token's subject, system)
  --principal-kind K   only records of callers of this kind: anonymous, api_key, oidc, system
  --action ACTION      only this action, or a family of them: agent.*
  --target REF         only records whose target has this ID or name
  --target-kind KIND   only records whose target is of this kind: agent, workflow, run, route
  --outcome OUTCOME    ok or denied
  --since WHEN         only records of this time or later: RFC 3339, or a duration ago (24h)
  --until WHEN         only records before this time: RFC 3339, or a duration ago
  --limit N            the page size, 1 to 100 (default: the server's, 50)
  --cursor CURSOR      start at this cursor, the next_cursor of an earlier page
  --all                follow next_cursor to the last page
  --server URL         the gateway (default $OSSA_SERVER, else http://localhost:3100)
  --output FORMAT      table or json (default table)
`

// runAudit runs `ossa audit`, with runAgents' exit codes.
func runAudit(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	c := &agentsCLI{command: "ossa audit", stdout: stdout, stderr: stderr, getenv: getenv, help: auditUsage}
	return c.exit(c.listAudit(ctx, args))
}

// listAudit handles `ossa audit`.
func (c *agentsCLI) listAudit(ctx context.Context, args []string) error {
	fs := c.flagSet("", "[flags]")
	var q ohttp.AuditQuery
	var namespaces stringList
	var kind, outcome, since, until string
	fs.Var(&namespaces, "namespace", "")
	fs.StringVar(&q.Principal, "principal", "", "")
	fs.StringVar(&kind, "principal-kind", "", "")
	fs.StringVar(&q.Action, "action", "", "")
	fs.StringVar(&q.Target, "target", "", "")
	fs.StringVar(&q.TargetKind, "target-kind", "", "")
	fs.StringVar(&outcome, "outcome", "", "")
	fs.StringVar(&since, "since", "", "")
	fs.StringVar(&until, "until", "", "")
	fs.IntVar(&q.Limit, "limit", 0, "")
	fs.StringVar(&q.Cursor, "cursor", "", "")
	all := fs.Bool("all", false, "")
	if _, err := c.parse(args); err != nil {
		return err
	}
	q.Namespaces, q.PrincipalKind, q.Outcome = namespaces, platform.PrincipalKind(kind), platform.AuditOutcome(outcome)
	now := time.Now()
	var err error
	if q.Since, err = when("--since", since, now); err != nil {
		return err
	}
	if q.Until, err = when("--until", until, now); err != nil {
		return err
	}
	l, err := listPages(*all, q.Cursor, func(cursor string) (*ohttp.AuditList, error) {
		q.Cursor = cursor
		return c.client().ListAudit(ctx, q)
	})
	if err != nil {
		return err
	}
	if c.output == "json" {
		return c.printJSON(l)
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tPRINCIPAL\tNAMESPACE\tACTION\tTARGET\tOUTCOME\tSOURCE\tREQUEST\tDETAIL")
	for _, a := range l.Items {
		who := "-"
		if a.Principal.Kind != "" {
			who = string(a.Principal.Kind) + ":" + a.Principal.Subject
		}
		target := a.Target.Kind
		if ref := cmp.Or(a.Target.Name, a.Target.ID); ref != "" {
			target += " " + ref
		}
		outcome := string(a.Outcome)
		if a.Count > 1 {
			outcome += fmt.Sprintf(" ×%d", a.Count)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", a.Time.Local().Format(time.DateTime), who, orDash(a.Namespace),
			a.Action, target, outcome, orDash(a.Source), orDash(a.RequestID), orDash(oneLine(a.Detail)))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if l.NextCursor != nil {
		fmt.Fprintf(c.stderr, "more records follow: add --cursor %s, or --all\n", *l.NextCursor)
	}
	return nil
}

// when reads a time flag: RFC 3339, or a duration before now; "" is none.
func when(flag, v string, now time.Time) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(v); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, usageErrorf("%s must be a time in RFC 3339 form (2025-01-02T15:04:05Z) or a duration ago (24h), not %q", flag, v)
}
