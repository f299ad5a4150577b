package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ossa-platform/platform"
	"github.com/ossa-platform/platform/auth"
	ohttp "github.com/ossa-platform/platform/http"
	"github.com/ossa-platform/platform/manifest"
)

const agentsUsage = `Usage: ossa agents <verb> [arguments] [flags]

Verbs:
  list                 list agents, filtered by --type, --capability, --status, --label
  get REF              show one agent; REF is its ID or its name
  search TEXT          the agents that best fit TEXT, ranked ("extract line items from PDF invoices")
  register             register an agent from flags (--name, --endpoint...), or from a file (-f):
                       a JSON agent, or an OSSA Agent manifest in YAML or JSON
  delete REF           delete an agent

Flags of every verb:
  --server URL         the gateway (default $OSSA_SERVER, else http://localhost:3100)
  --api-key KEY        the API key (default $OSSA_API_KEY, else, for a gateway on this
                       machine, the admin key its first start wrote to $OSSA_DATA_DIR/admin.key)
  --ca-file FILE       PEM certificates of the authorities to trust for an https:// gateway,
                       besides the system's (default $OSSA_CA_FILE)
  --output FORMAT      table or json (default table)

Run 'ossa agents <verb> --help' for the flags of a verb.
`

// defaultServer is the gateway the client verbs talk to when neither
// --server nor OSSA_SERVER names one.
const defaultServer = "http://localhost:3100"

// runAgents runs `ossa agents <verb>`: args are what follows "agents". It
// returns 0 on success, 1 when the request fails and 2 for a usage error.
func runAgents(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, agentsUsage)
		return 2
	}
	c := &agentsCLI{command: "ossa agents", stdout: stdout, stderr: stderr, getenv: getenv}
	var err error
	switch verb := args[0]; verb {
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, agentsUsage)
		return 0
	case "list":
		err = c.list(ctx, args[1:])
	case "get":
		err = c.get(ctx, args[1:])
	case "search":
		err = c.search(ctx, args[1:])
	case "register":
		err = c.register(ctx, args[1:])
	case "delete":
		err = c.delete(ctx, args[1:])
	default:
		fmt.Fprintf(stderr, "ossa agents: unknown verb %q\n\n%s", verb, agentsUsage)
		return 2
	}
	return c.exit(err)
}

// agentsCLI is one run of a client verb (of agents, runs, execute): its
// streams and the flags every verb shares.
type agentsCLI struct {
	// command names the verb's group in messages: "ossa agents".
	command        string
	stdout, stderr io.Writer
	getenv         func(string) string

	fs       *flag.FlagSet
	synopsis string
	// help, when set, is the written help a verb prints for -h instead of
	// its synopsis and flags.
	help   string
	server string
	apiKey string
	output string
	caFile string
	// http sends the requests: one that trusts caFile's authorities
	// too, once parse has read it; http.DefaultClient when nil.
	http *http.Client
}

// agentsUsageError is a mistake in the command line; an empty message means
// the flag package has already reported it.
type agentsUsageError struct{ msg string }

func (e *agentsUsageError) Error() string { return e.msg }

func usageErrorf(format string, args ...any) error {
	return &agentsUsageError{msg: fmt.Sprintf(format, args...)}
}

// exit reports err the way its kind calls for and returns the exit code.
func (c *agentsCLI) exit(err error) int {
	var usage *agentsUsageError
	var p *ohttp.Problem
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		c.fs.SetOutput(c.stdout)
		c.printUsage()
		return 0
	case errors.As(err, &usage):
		if usage.msg != "" {
			fmt.Fprintf(c.stderr, "%s: %s\n", c.fs.Name(), usage.msg)
		}
		c.printUsage()
		return 2
	case errors.As(err, &p):
		fmt.Fprintln(c.stderr, "ossa:", problemLine(p))
		return 1
	}
	msg := err.Error()
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		msg += " (is the gateway running? set --server or OSSA_SERVER)"
	}
	fmt.Fprintln(c.stderr, "ossa:", oneLine(msg))
	return 1
}

// problemLine is a problem as one line: "404 Not Found: detail (field: message; ...)".
func problemLine(p *ohttp.Problem) string {
	line := fmt.Sprintf("%d %s", p.Status, p.Title)
	if p.Detail != "" {
		line += ": " + p.Detail
	}
	if len(p.Errors) > 0 {
		fields := make([]string, len(p.Errors))
		for i, e := range p.Errors {
			fields[i] = e.Field + ": " + e.Message
		}
		line += " (" + strings.Join(fields, "; ") + ")"
	}
	return oneLine(line)
}

// oneLine folds every run of white space, newlines included, into a space.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// flagSet starts the verb's flags with the ones every verb has.
func (c *agentsCLI) flagSet(verb, synopsis string) *flag.FlagSet {
	fs := flag.NewFlagSet(strings.TrimSpace(c.command+" "+verb), flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	// exit prints the usage, to stdout when asked for it.
	fs.Usage = func() {}
	server := c.getenv("OSSA_SERVER")
	if server == "" {
		server = defaultServer
	}
	fs.StringVar(&c.server, "server", server, "the gateway's `URL` (OSSA_SERVER)")
	fs.StringVar(&c.apiKey, "api-key", c.getenv("OSSA_API_KEY"), "the API `key` (OSSA_API_KEY; else data/admin.key for a gateway on this machine)")
	fs.StringVar(&c.caFile, "ca-file", c.getenv("OSSA_CA_FILE"),
		"PEM `file` of the certificate authorities to trust for an https:// gateway, besides the system's (OSSA_CA_FILE)")
	fs.StringVar(&c.output, "output", "table", "the output `format`: table or json")
	c.fs, c.synopsis = fs, strings.TrimSpace(c.command+" "+verb)+" "+synopsis
	return fs
}

func (c *agentsCLI) printUsage() {
	if c.help != "" {
		fmt.Fprint(c.fs.Output(), c.help)
		return
	}
	fmt.Fprintf(c.fs.Output(), "Usage: %s\n\nFlags:\n", c.synopsis)
	c.fs.PrintDefaults()
}

// parse parses flags and positional arguments in any order ("get foo
// --output json"). It checks the common flags and that there is one
// positional argument for each of names ("REF"), no more.
func (c *agentsCLI) parse(args []string, names ...string) ([]string, error) {
	pos, err := parseArgs(c.fs, args)
	if err != nil {
		return nil, err
	}
	if c.output != "table" && c.output != "json" {
		return nil, usageErrorf("--output must be table or json, not %q", c.output)
	}
	if len(pos) < len(names) {
		return nil, usageErrorf("missing %s", names[len(pos)])
	}
	if c.caFile != "" {
		if c.http, err = trustingClient(c.caFile); err != nil {
			return nil, err
		}
	}
	if len(pos) > len(names) {
		return nil, usageErrorf("unexpected argument %q", pos[len(names)])
	}
	return pos, nil
}

func (c *agentsCLI) client() *ohttp.Client {
	return &ohttp.Client{BaseURL: c.server, HTTPClient: c.http, APIKey: c.key()}
}

// key is the API key the client sends: --api-key or OSSA_API_KEY, else,
// when the gateway is on this machine, the admin key its first start
// wrote into the data directory (OSSA_DATA_DIR, default ./data). That key
// is never sent to a gateway elsewhere.
func (c *agentsCLI) key() string {
	if c.apiKey != "" {
		return c.apiKey
	}
	u, err := url.Parse(c.server)
	if err != nil || !isLoopbackHost(u.Hostname()) {
		return ""
	}
	dir := c.getenv("OSSA_DATA_DIR")
	if dir == "" {
		dir = "data"
	}
	k, err := auth.ReadKeyFile(dir)
	if err != nil {
		fmt.Fprintf(c.stderr, "ossa: cannot read the admin key: %v\n", err)
	}
	return k
}

// isLoopbackHost reports whether host names this machine.
func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// trustingClient is an HTTP client that trusts the certificate
// authorities of the PEM file caFile besides the system's: for a gateway
// whose certificate a private authority signed.
func trustingClient(caFile string) (*http.Client, error) {
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("--ca-file: %w", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("--ca-file %s: no PEM certificate in it", caFile)
	}
	t := &http.Transport{Proxy: http.ProxyFromEnvironment, ForceAttemptHTTP2: true}
	if d, ok := http.DefaultTransport.(*http.Transport); ok {
		t = d.Clone()
	}
	t.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	return &http.Client{Transport: t}, nil
}

// list handles `ossa agents list`.
func (c *agentsCLI) list(ctx context.Context, args []string) error {
	fs := c.flagSet("list", "[flags]")
	var q ohttp.AgentQuery
	labels := agentsLabels{}
	fs.StringVar(&q.Type, "type", "", "only agents of this `type`: orchestrator, worker or monitor")
	fs.StringVar(&q.Capability, "capability", "", "only agents that have this `capability`")
	fs.StringVar(&q.Status, "status", "", "only agents in this `status`: active or inactive")
	fs.Var(labels, "label", "only agents that have this label, as `key:value`; repeat for several")
	fs.IntVar(&q.Limit, "limit", 0, "the page `size`, 1 to 100 (default: the server's, 50)")
	fs.StringVar(&q.Cursor, "cursor", "", "start at this `cursor`, the next_cursor of an earlier page")
	all := fs.Bool("all", false, "follow next_cursor to the last page")
	if _, err := c.parse(args); err != nil {
		return err
	}
	q.Labels = labels
	l, err := listPages(*all, q.Cursor, func(cursor string) (*ohttp.AgentList, error) {
		q.Cursor = cursor
		return c.client().ListAgents(ctx, q)
	})
	if err != nil {
		return err
	}
	if c.output == "json" {
		return c.printJSON(l)
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tTYPE\tSTATUS\tHEALTH\tCAPABILITIES\tENDPOINT\tID")
	for _, a := range l.Items {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", a.Name, a.Type, a.Status, orDash(string(a.Health.Status)),
			orDash(strings.Join(a.Capabilities, ",")), orDash(a.Endpoint), a.ID)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if l.NextCursor != nil {
		fmt.Fprintf(c.stderr, "more agents follow: add --cursor %s, or --all\n", *l.NextCursor)
	}
	return nil
}

// search handles `ossa agents search TEXT`.
func (c *agentsCLI) search(ctx context.Context, args []string) error {
	fs := c.flagSet("search", "TEXT [flags]")
	var in ohttp.DiscoverInput
	labels := agentsLabels{}
	typ := fs.String("type", "", "only agents of this `type`: orchestrator, worker or monitor")
	fs.StringVar(&in.Capability, "capability", "", "only agents that have this `capability`")
	status := fs.String("status", "", "only agents in this `status`: active or inactive")
	fs.Var(labels, "label", "only agents that have this label, as `key:value`; repeat for several")
	fs.IntVar(&in.Limit, "limit", 0, "how many agents at most, 1 to 100 (default 10)")
	pos, err := c.parse(args, "TEXT")
	if err != nil {
		return err
	}
	in.Query, in.Type, in.Status = pos[0], platform.AgentType(*typ), platform.AgentStatus(*status)
	if len(labels) > 0 {
		in.Labels = labels
	}
	res, err := c.client().SearchAgents(ctx, in)
	if err != nil {
		return err
	}
	if c.output == "json" {
		return c.printJSON(res)
	}
	if len(res.Items) == 0 {
		fmt.Fprintln(c.stderr, "no agent fits; ossa agents list shows them all")
		return nil
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RANK\tNAME\tSCORE\tSIMILARITY\tMATCHED\tAVAILABLE\tCAPABILITIES")
	for i, d := range res.Items {
		sim := "-"
		if d.Similarity != nil {
			sim = fmt.Sprintf("%.3f", *d.Similarity)
		}
		avail := "yes"
		if !d.Available {
			avail = "no (" + string(d.Agent.Status) + ", " + orDash(string(d.Agent.Health.Status)) + ")"
		}
		fmt.Fprintf(tw, "%d\t%s\t%.4f\t%s\t%s\t%s\t%s\n", i+1, d.Agent.Name, d.Score, sim, orDash(strings.Join(d.Matched, ",")),
			avail, orDash(strings.Join(d.Agent.Capabilities, ",")))
	}
	return tw.Flush()
}

// get handles `ossa agents get REF`.
func (c *agentsCLI) get(ctx context.Context, args []string) error {
	c.flagSet("get", "REF [flags]")
	pos, err := c.parse(args, "REF")
	if err != nil {
		return err
	}
	a, err := c.client().GetAgent(ctx, pos[0])
	if err != nil {
		return err
	}
	return c.printAgent(a)
}

// register handles `ossa agents register`.
func (c *agentsCLI) register(ctx context.Context, args []string) error {
	fs := c.flagSet("register", "-f FILE [--endpoint URL] | --name NAME --endpoint URL [flags]")
	var in ohttp.AgentInput
	var capabilities agentsList
	labels := agentsLabels{}
	file := fs.String("f", "", "read the agent from this `file` (- for standard input): JSON, as get --output json prints it,\n"+
		"or an OSSA Agent manifest (YAML or JSON, with apiVersion and kind), which --endpoint may give an endpoint")
	fs.StringVar(&in.Name, "name", "", "the agent's `name`: lower-case letters, digits and '-'")
	typ := fs.String("type", string(platform.AgentWorker), "the agent's `type`: orchestrator, worker or monitor")
	fs.Var(&capabilities, "capability", "a `capability` of the agent; repeat for several")
	fs.StringVar(&in.Endpoint, "endpoint", "", "the http(s) `URL` the agent listens on (with -f, a manifest's agent)")
	fs.StringVar(&in.Description, "description", "", "what the agent does")
	fs.StringVar(&in.Version, "version", "", "the agent's `version`")
	fs.Var(labels, "label", "a label, as `key:value`; repeat for several")
	secret := fs.String("secret", "", "authenticate to the agent with the secret of this `name` (ossa secrets set)")
	header := fs.String("secret-header", "", "the `header` the secret goes in (default Authorization)")
	scheme := fs.String("secret-scheme", "", "the `scheme` before the secret, such as Bearer")
	if _, err := c.parse(args); err != nil {
		return err
	}
	if (*header != "" || *scheme != "") && *secret == "" {
		return usageErrorf("--secret-header and --secret-scheme go with --secret")
	}
	if *file != "" {
		var others []string
		fs.Visit(func(f *flag.Flag) {
			if f.Name != "f" && f.Name != "server" && f.Name != "output" && f.Name != "endpoint" {
				others = append(others, "--"+f.Name)
			}
		})
		if len(others) > 0 {
			return usageErrorf("-f cannot be combined with %s", strings.Join(others, ", "))
		}
		b, name, err := readInput(*file)
		if err != nil {
			return err
		}
		m, err := agentManifest(b, name)
		if err != nil {
			return err
		}
		if m != nil {
			a, err := c.client().CreateAgentFromManifest(ctx, m, manifestContentType(m), in.Endpoint)
			if err != nil {
				return err
			}
			return c.printAgent(a)
		}
		if in.Endpoint != "" {
			return usageErrorf("--endpoint goes with -f only for an OSSA manifest; %s is a JSON agent, which names its own endpoint", name)
		}
		if in, err = decodeAgentFile(b, name); err != nil {
			return err
		}
	} else {
		if in.Name == "" || in.Endpoint == "" {
			return usageErrorf("register needs -f FILE, or --name and --endpoint")
		}
		in.Type = platform.AgentType(*typ)
		in.Capabilities = capabilities
		in.Labels = labels
		if *secret != "" {
			in.Auth = &platform.AgentAuth{Header: *header, Scheme: *scheme, Secret: *secret}
		}
	}
	a, err := c.client().CreateAgent(ctx, in)
	if err != nil {
		return err
	}
	return c.printAgent(a)
}

// agentManifest returns the OSSA manifest a file of agents register -f
// holds, or nil when it holds a JSON agent. A manifest is a document with
// an apiVersion or a kind: YAML, JSON, or JSON wrapped as {"manifest":
// ...} as the API takes it.
func agentManifest(b []byte, name string) ([]byte, error) {
	if manifestContentType(b) == "application/json" {
		var members map[string]json.RawMessage
		if json.Unmarshal(b, &members) != nil {
			return nil, nil //nolint:nilerr // not a manifest: decodeAgentFile says what is wrong
		}
		if inner, ok := members["manifest"]; ok && len(members) == 1 {
			return bytes.TrimSpace(inner), nil
		}
		_, hasVersion := members["apiVersion"]
		_, hasKind := members["kind"]
		if hasVersion || hasKind {
			return b, nil
		}
		return nil, nil
	}
	docs, err := manifest.Parse(name, b)
	switch {
	case err != nil:
		return nil, err
	case len(docs) != 1:
		return nil, fmt.Errorf("%s holds %d YAML documents: register one manifest at a time", name, len(docs))
	case docs[0].APIVersion() == "" && docs[0].Kind() == "":
		return nil, fmt.Errorf("%s is not an OSSA manifest (it has no apiVersion or kind); an agent without one is written in JSON", name)
	}
	return b, nil
}

// decodeAgentFile reads one JSON agent from b, the contents of the file
// name. Unknown members are an error, so that a misspelt one is not
// silently dropped.
func decodeAgentFile(b []byte, name string) (ohttp.AgentInput, error) {
	var in ohttp.AgentInput
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		return in, fmt.Errorf("%s: %w", name, err)
	}
	if dec.More() {
		return in, fmt.Errorf("%s: unexpected data after the agent", name)
	}
	return in, nil
}

// delete handles `ossa agents delete REF`.
func (c *agentsCLI) delete(ctx context.Context, args []string) error {
	c.flagSet("delete", "REF [flags]")
	pos, err := c.parse(args, "REF")
	if err != nil {
		return err
	}
	if err := c.client().DeleteAgent(ctx, pos[0]); err != nil {
		return err
	}
	// The API answers 204 without a body, so JSON output prints nothing.
	if c.output == "table" {
		fmt.Fprintf(c.stdout, "deleted agent %s\n", pos[0])
	}
	return nil
}

// printAgent prints one agent as a key: value listing or as JSON.
func (c *agentsCLI) printAgent(a *platform.Agent) error {
	if c.output == "json" {
		return c.printJSON(a)
	}
	var metadata bytes.Buffer
	if json.Compact(&metadata, a.Metadata) != nil {
		metadata.Write(a.Metadata)
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	for _, row := range [][2]string{
		{"ID", a.ID},
		{"Name", a.Name},
		{"Namespace", a.Namespace},
		{"Type", string(a.Type)},
		{"Status", string(a.Status)},
		{"Health", healthLine(a.Health)},
		{"Endpoint", a.Endpoint},
		{"Auth", authLine(a.Auth)},
		{"Capabilities", strings.Join(a.Capabilities, ", ")},
		{"Labels", agentsLabels(a.Labels).String()},
		{"Description", oneLine(a.Description)},
		{"Version", a.Version},
		{"Metadata", metadata.String()},
		{"Created", a.CreatedAt.Format(time.RFC3339)},
		{"Updated", a.UpdatedAt.Format(time.RFC3339)},
	} {
		fmt.Fprintf(tw, "%s:\t%s\n", row[0], orDash(row[1]))
	}
	return tw.Flush()
}

// healthLine is an agent's health in a few words: "healthy (checked
// 2025-01-02T15:04:05Z)", "unhealthy: connection refused (checked ...)".
func healthLine(h platform.AgentHealth) string {
	line := string(h.Status)
	if h.Reason != "" {
		line += ": " + oneLine(h.Reason)
	}
	if h.CheckedAt != nil {
		line += " (checked " + h.CheckedAt.Format(time.RFC3339) + ")"
	}
	return line
}

func (c *agentsCLI) printJSON(v any) error {
	enc := json.NewEncoder(c.stdout)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// authLine is an agent's auth as one line: what it sends, never a value.
func authLine(a *platform.AgentAuth) string {
	if a == nil {
		return "-"
	}
	v := "<secret " + a.Secret + ">"
	if a.Scheme != "" {
		v = a.Scheme + " " + v
	}
	return a.HeaderName() + ": " + v
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// agentsList is a flag that may be repeated.
type agentsList []string

func (l *agentsList) String() string { return strings.Join(*l, ",") }

func (l *agentsList) Set(v string) error {
	*l = append(*l, v)
	return nil
}

// agentsLabels is a repeatable key:value flag.
type agentsLabels map[string]string

func (l agentsLabels) String() string {
	pairs := make([]string, 0, len(l))
	for k, v := range l {
		pairs = append(pairs, k+":"+v)
	}
	sort.Strings(pairs)
	return strings.Join(pairs, ", ")
}

func (l agentsLabels) Set(v string) error {
	k, val, ok := strings.Cut(v, ":")
	if !ok || k == "" {
		return errors.New("must have the form key:value")
	}
	l[k] = val
	return nil
}

// listPages fetches the page at cursor and, with all, every page after it,
// as one page; its items are [] rather than null when there are none.
func listPages[T any](all bool, cursor string, fetch func(cursor string) (*ohttp.Page[T], error)) (*ohttp.Page[T], error) {
	l, err := fetch(cursor)
	if err != nil {
		return nil, err
	}
	for all && l.NextCursor != nil {
		next, err := fetch(*l.NextCursor)
		if err != nil {
			return nil, err
		}
		l.Items, l.NextCursor = append(l.Items, next.Items...), next.NextCursor
	}
	if l.Items == nil {
		l.Items = []T{}
	}
	return l, nil
}

// parseArgs parses flags and positional arguments in any order; "--" ends
// the flags. It returns the positional arguments.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, &agentsUsageError{}
		}
		rest := fs.Args()
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			return append(pos, rest...), nil
		}
		if len(rest) == 0 {
			return pos, nil
		}
		pos, args = append(pos, rest[0]), rest[1:]
	}
}
