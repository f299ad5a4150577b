package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/ossa-platform/platform"
	ohttp "github.com/ossa-platform/platform/http"
)

const runsUsage = `Usage: ossa runs <verb> [arguments] [flags]

Verbs:
  list                 list workflow runs, newest first, filtered by --status, --workflow
  get ID               show one run and its steps
  cancel ID            cancel a run

Flags of every verb:
  --server URL         the gateway (default $OSSA_SERVER, else http://localhost:3100)
  --api-key KEY        the API key (default $OSSA_API_KEY, else, for a gateway on this
                       machine, the admin key its first start wrote to $OSSA_DATA_DIR/admin.key)
  --ca-file FILE       PEM certificates of the authorities to trust for an https:// gateway,
                       besides the system's (default $OSSA_CA_FILE)
  --output FORMAT      table or json (default table)
`

// runRuns runs `ossa runs <verb>`, with runAgents' exit codes.
func runRuns(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, runsUsage)
		return 2
	}
	c := &agentsCLI{command: "ossa runs", stdout: stdout, stderr: stderr, getenv: getenv}
	var err error
	switch verb := args[0]; verb {
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, runsUsage)
		return 0
	case "list":
		err = c.listRuns(ctx, args[1:])
	case "get":
		err = c.getRun(ctx, args[1:])
	case "cancel":
		err = c.cancelRun(ctx, args[1:])
	default:
		fmt.Fprintf(stderr, "ossa runs: unknown verb %q\n\n%s", verb, runsUsage)
		return 2
	}
	return c.exit(err)
}

// listRuns handles `ossa runs list`.
func (c *agentsCLI) listRuns(ctx context.Context, args []string) error {
	fs := c.flagSet("list", "[flags]")
	var q ohttp.RunQuery
	var status string
	fs.StringVar(&status, "status", "", "only runs in this `status`: queued, running, succeeded, failed, cancelled or timed_out")
	fs.StringVar(&q.Workflow, "workflow", "", "only runs of the workflow of this `name`")
	fs.IntVar(&q.Limit, "limit", 0, "the page `size`, 1 to 100 (default: the server's, 50)")
	fs.StringVar(&q.Cursor, "cursor", "", "start at this `cursor`, the next_cursor of an earlier page")
	all := fs.Bool("all", false, "follow next_cursor to the last page")
	if _, err := c.parse(args); err != nil {
		return err
	}
	q.Status = platform.RunStatus(status)
	l, err := listPages(*all, q.Cursor, func(cursor string) (*ohttp.RunList, error) {
		q.Cursor = cursor
		return c.client().ListRuns(ctx, q)
	})
	if err != nil {
		return err
	}
	if c.output == "json" {
		return c.printJSON(l)
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tWORKFLOW\tSTATUS\tCREATED\tDURATION")
	for _, r := range l.Items {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.ID, r.Workflow, r.Status,
			r.CreatedAt.Local().Format(time.DateTime), duration(r.StartedAt, r.FinishedAt))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if l.NextCursor != nil {
		fmt.Fprintf(c.stderr, "more runs follow: add --cursor %s, or --all\n", *l.NextCursor)
	}
	return nil
}

// getRun handles `ossa runs get ID`.
func (c *agentsCLI) getRun(ctx context.Context, args []string) error {
	c.flagSet("get", "ID [flags]")
	pos, err := c.parse(args, "ID")
	if err != nil {
		return err
	}
	r, err := c.client().GetRun(ctx, pos[0])
	if err != nil {
		return err
	}
	return c.printRun(r)
}

// cancelRun handles `ossa runs cancel ID`.
func (c *agentsCLI) cancelRun(ctx context.Context, args []string) error {
	c.flagSet("cancel", "ID [flags]")
	pos, err := c.parse(args, "ID")
	if err != nil {
		return err
	}
	r, err := c.client().CancelRun(ctx, pos[0])
	if err != nil {
		return err
	}
	return c.printRun(r)
}

func (c *agentsCLI) printRun(r *platform.Run) error {
	if c.output == "json" {
		return c.printJSON(r)
	}
	fmt.Fprintf(c.stdout, "Run %s of %s: %s", r.ID, r.Workflow, r.Status)
	if r.CancelRequested && !r.Status.Terminal() {
		fmt.Fprint(c.stdout, " (cancel requested)")
	}
	fmt.Fprintln(c.stdout)
	if r.Error != "" {
		fmt.Fprintln(c.stdout, "Error:", oneLine(r.Error))
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "STEP\tSTATUS\tAGENT\tATTEMPTS\tDURATION\tERROR")
	for _, s := range r.Steps {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\n", s.ID, s.Status, orDash(s.Agent), s.Attempts,
			duration(s.StartedAt, s.FinishedAt), orDash(oneLine(s.Error)))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(r.Output) > 0 {
		fmt.Fprintf(c.stdout, "Output: %s\n", r.Output)
	}
	return nil
}

// duration is how long something that started and maybe finished took,
// or "-".
func duration(start, end *time.Time) string {
	if start == nil || end == nil {
		return "-"
	}
	return end.Sub(*start).Round(time.Millisecond).String()
}

const executeUsage = `Usage: ossa execute REF [--capability NAME] [--input JSON] [flags]

Calls one agent (REF: its ID or name) through the gateway and prints its output.

Flags:
  --capability NAME    the capability to ask for
  --input JSON         the input, any JSON (default null)
  --server URL         the gateway (default $OSSA_SERVER, else http://localhost:3100)
  --api-key KEY        the API key (default $OSSA_API_KEY, else, for a gateway on this
                       machine, the admin key its first start wrote to $OSSA_DATA_DIR/admin.key)
  --ca-file FILE       PEM certificates of the authorities to trust for an https:// gateway,
                       besides the system's (default $OSSA_CA_FILE)
  --output FORMAT      table (the output only) or json (the whole answer)
`

// runExecute runs `ossa execute REF`.
func runExecute(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	c := &agentsCLI{command: "ossa execute", stdout: stdout, stderr: stderr, getenv: getenv, help: executeUsage}
	fs := c.flagSet("", "REF [flags]")
	var req platform.ExecuteRequest
	var input string
	fs.StringVar(&req.Capability, "capability", "", "the `capability` to ask the agent for")
	fs.StringVar(&input, "input", "", "the input, any `JSON` (default null)")
	err := func() error {
		pos, err := c.parse(args, "REF")
		if err != nil {
			return err
		}
		if input != "" {
			if !json.Valid([]byte(input)) {
				return usageErrorf("--input must be JSON, such as '{\"text\":\"hi\"}'")
			}
			req.Input = json.RawMessage(input)
		}
		x, err := c.client().Execute(ctx, pos[0], req)
		if err != nil {
			return err
		}
		if c.output == "json" {
			return c.printJSON(x)
		}
		_, err = fmt.Fprintf(c.stdout, "%s\n", x.Output)
		return err
	}()
	return c.exit(err)
}
