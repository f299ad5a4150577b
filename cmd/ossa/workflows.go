package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ossa-platform/platform"
	ohttp "github.com/ossa-platform/platform/http"
	"github.com/ossa-platform/platform/manifest"
)

const workflowsUsage = `Usage: ossa workflows <verb> [arguments] [flags]

Verbs:
  list                 list the stored workflows, oldest first
  get REF              show one workflow and its steps; REF is its ID or its name
  create -f FILE       store an OSSA Workflow manifest, YAML or JSON (- for standard input)
  apply -f FILE        store it, or a new revision of the workflow of its name (PUT)
  delete REF           delete a workflow

Flags of every verb:
  --server URL         the gateway (default $OSSA_SERVER, else http://localhost:3100)
  --api-key KEY        the API key (default $OSSA_API_KEY, else, for a gateway on this
                       machine, the admin key its first start wrote to $OSSA_DATA_DIR/admin.key)
  --ca-file FILE       PEM certificates of the authorities to trust for an https:// gateway,
                       besides the system's (default $OSSA_CA_FILE)
  --output FORMAT      table or json (default table)

Run 'ossa workflows <verb> --help' for the flags of a verb.
`

// runWorkflows runs `ossa workflows <verb>`, with runAgents' exit codes.
func runWorkflows(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, workflowsUsage)
		return 2
	}
	c := &agentsCLI{command: "ossa workflows", stdout: stdout, stderr: stderr, getenv: getenv}
	var err error
	switch verb := args[0]; verb {
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, workflowsUsage)
		return 0
	case "list":
		err = c.listWorkflows(ctx, args[1:])
	case "get":
		err = c.getWorkflow(ctx, args[1:])
	case "create":
		err = c.createWorkflow(ctx, args[1:])
	case "apply":
		err = c.applyWorkflow(ctx, args[1:])
	case "delete":
		err = c.deleteWorkflow(ctx, args[1:])
	default:
		fmt.Fprintf(stderr, "ossa workflows: unknown verb %q\n\n%s", verb, workflowsUsage)
		return 2
	}
	return c.exit(err)
}

// listWorkflows handles `ossa workflows list`.
func (c *agentsCLI) listWorkflows(ctx context.Context, args []string) error {
	fs := c.flagSet("list", "[flags]")
	var q ohttp.WorkflowQuery
	fs.IntVar(&q.Limit, "limit", 0, "the page `size`, 1 to 100 (default: the server's, 50)")
	fs.StringVar(&q.Cursor, "cursor", "", "start at this `cursor`, the next_cursor of an earlier page")
	all := fs.Bool("all", false, "follow next_cursor to the last page")
	if _, err := c.parse(args); err != nil {
		return err
	}
	l, err := listPages(*all, q.Cursor, func(cursor string) (*ohttp.WorkflowList, error) {
		q.Cursor = cursor
		return c.client().ListWorkflows(ctx, q)
	})
	if err != nil {
		return err
	}
	if c.output == "json" {
		return c.printJSON(l)
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tVERSION\tAPI VERSION\tSTEPS\tCREATED\tID")
	for _, wf := range l.Items {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\n", wf.Name, orDash(wf.Version), orDash(wf.APIVersion),
			len(workflowSteps(wf)), wf.CreatedAt.Local().Format(time.DateTime), wf.ID)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if l.NextCursor != nil {
		fmt.Fprintf(c.stderr, "more workflows follow: add --cursor %s, or --all\n", *l.NextCursor)
	}
	return nil
}

// getWorkflow handles `ossa workflows get REF`.
func (c *agentsCLI) getWorkflow(ctx context.Context, args []string) error {
	c.flagSet("get", "REF [flags]")
	pos, err := c.parse(args, "REF")
	if err != nil {
		return err
	}
	wf, err := c.client().GetWorkflow(ctx, pos[0])
	if err != nil {
		return err
	}
	return c.printWorkflow(wf)
}

// createWorkflow handles `ossa workflows create -f FILE`.
func (c *agentsCLI) createWorkflow(ctx context.Context, args []string) error {
	fs := c.flagSet("create", "-f FILE [flags]")
	file := fs.String("f", "", "read the OSSA Workflow manifest from this YAML or JSON `file` (- for standard input)")
	if _, err := c.parse(args); err != nil {
		return err
	}
	if *file == "" {
		return usageErrorf("create needs -f FILE")
	}
	b, _, err := readInput(*file)
	if err != nil {
		return err
	}
	wf, err := c.client().CreateWorkflow(ctx, b, manifestContentType(b))
	if err != nil {
		return err
	}
	return c.printWorkflow(wf)
}

// applyWorkflow handles `ossa workflows apply -f FILE`: the manifest is
// stored under its metadata.name, as the workflow's first revision or its
// next one; a manifest equal to the stored one changes nothing.
func (c *agentsCLI) applyWorkflow(ctx context.Context, args []string) error {
	fs := c.flagSet("apply", "-f FILE [--revision N] [flags]")
	file := fs.String("f", "", "read the OSSA Workflow manifest from this YAML or JSON `file` (- for standard input)")
	revision := fs.Int("revision", 0, "store only if the workflow is still at revision `N`, as an earlier get showed it (0: whatever it is)")
	if _, err := c.parse(args); err != nil {
		return err
	}
	if *file == "" {
		return usageErrorf("apply needs -f FILE")
	}
	b, from, err := readInput(*file)
	if err != nil {
		return err
	}
	docs, err := manifest.Parse(from, b)
	if err != nil {
		return err
	}
	if len(docs) != 1 || docs[0].Root.Get("metadata").Get("name").Str() == "" {
		return fmt.Errorf("%s: apply needs one manifest with a metadata.name", from)
	}
	name := docs[0].Root.Get("metadata").Get("name").Str()
	opts := ohttp.PutWorkflowOptions{ContentType: manifestContentType(b)}
	if *revision > 0 {
		// The server compares whole ETags, which name the workflow's ID
		// too, so a workflow deleted and stored again does not match.
		current, err := c.client().GetWorkflow(ctx, name)
		if err != nil {
			return err
		}
		opts.IfMatch = ohttp.WorkflowETag(&platform.Workflow{ID: current.ID, Revision: *revision})
	}
	wf, created, err := c.client().PutWorkflow(ctx, name, b, opts)
	if err != nil {
		return err
	}
	if c.output == "table" {
		what := fmt.Sprintf("workflow %s at revision %d", wf.Name, wf.Revision)
		if created {
			what = "created " + what
		}
		fmt.Fprintln(c.stderr, what)
	}
	return c.printWorkflow(wf)
}

// deleteWorkflow handles `ossa workflows delete REF`.
func (c *agentsCLI) deleteWorkflow(ctx context.Context, args []string) error {
	c.flagSet("delete", "REF [flags]")
	pos, err := c.parse(args, "REF")
	if err != nil {
		return err
	}
	if err := c.client().DeleteWorkflow(ctx, pos[0]); err != nil {
		return err
	}
	// The API answers 204 without a body, so JSON output prints nothing.
	if c.output == "table" {
		fmt.Fprintf(c.stdout, "deleted workflow %s\n", pos[0])
	}
	return nil
}

// printWorkflow prints one workflow as a key: value listing followed by
// its steps, or as JSON.
func (c *agentsCLI) printWorkflow(wf *platform.Workflow) error {
	if c.output == "json" {
		return c.printJSON(wf)
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	for _, row := range [][2]string{
		{"ID", wf.ID},
		{"Name", wf.Name},
		{"Namespace", wf.Namespace},
		{"Version", wf.Version},
		{"Revision", strconv.Itoa(wf.Revision)},
		{"API version", wf.APIVersion},
		{"Description", oneLine(wf.Description)},
		{"Created", wf.CreatedAt.Format(time.RFC3339)},
		{"Updated", wf.UpdatedAt.Format(time.RFC3339)},
	} {
		fmt.Fprintf(tw, "%s:\t%s\n", row[0], orDash(row[1]))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	steps := workflowSteps(wf)
	fmt.Fprintf(c.stdout, "Steps (%d):\n", len(steps))
	tw = tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  STEP\tKIND\tREF\tCAPABILITY\tDEPENDS ON")
	for _, s := range steps {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", s.path, s.kind, orDash(s.Ref), orDash(s.Capability), orDash(strings.Join(s.DependsOn, ",")))
	}
	return tw.Flush()
}

// workflowStep is one step of a workflow's definition, nested ones
// included, named by its path as a run names it: "group/child",
// "choose/0/child", "choose/else/child", "each[]/child".
type workflowStep struct {
	manifest.Step
	path, kind string
}

// workflowSteps lists the steps of a stored workflow in the order the
// manifest writes them, each parent before its children.
func workflowSteps(wf *platform.Workflow) []workflowStep {
	var m manifest.Workflow
	if json.Unmarshal(wf.Definition, &m) != nil {
		return nil
	}
	var out []workflowStep
	var walk func(prefix string, steps []manifest.Step)
	walk = func(prefix string, steps []manifest.Step) {
		for _, s := range steps {
			path := prefix + s.ID
			out = append(out, workflowStep{Step: s, path: path, kind: stepKind(s)})
			walk(path+"/", s.Parallel)
			for i, b := range s.Branches {
				walk(path+"/"+strconv.Itoa(i)+"/", b.Steps)
			}
			walk(path+"/else/", s.Else)
			if s.Loop != nil {
				walk(path+"[]/", s.Steps)
			} else {
				walk(path+"/", s.Steps)
			}
		}
	}
	walk("", m.Spec.Steps)
	return out
}

// stepKind is a step's kind, inferred as the engine infers it when the
// manifest leaves it out.
func stepKind(s manifest.Step) string {
	switch {
	case s.Kind != "":
		return s.Kind
	case len(s.Parallel) > 0:
		return "Parallel"
	case len(s.Branches) > 0 || len(s.Else) > 0:
		return "Conditional"
	case s.Loop != nil:
		return "Loop"
	}
	return "Agent"
}

// readInput reads a file, or standard input when name is "-", and returns
// its bytes and the name to use in messages.
func readInput(name string) ([]byte, string, error) {
	if name == "-" {
		b, err := io.ReadAll(os.Stdin)
		return b, "standard input", err
	}
	b, err := os.ReadFile(name)
	return b, name, err
}

// manifestContentType is how a manifest is written: JSON when it starts
// with '{', else YAML (of which JSON is a subset).
func manifestContentType(b []byte) string {
	if t := bytes.TrimLeft(b, " \t\r\n\ufeff"); len(t) > 0 && t[0] == '{' {
		return "application/json"
	}
	return "application/yaml"
}
