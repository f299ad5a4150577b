package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ossa-platform/platform"
	ohttp "github.com/ossa-platform/platform/http"
)

const keysUsage = `Usage: ossa keys <verb> [arguments] [flags]

Verbs:
  create               make an API key and print it, once; only its hash is kept
  list                 list the API keys of the namespace (--all: of every namespace you see)
  revoke ID            revoke a key: it stops working at once on this gateway, within
                       seconds on the others

Making, listing and revoking keys needs the admin scope: the first start of the gateway
made an admin key, in $OSSA_DATA_DIR/admin.key, which these verbs use on this machine.

Flags of every verb:
  --server URL         the gateway (default $OSSA_SERVER, else http://localhost:3100)
  --api-key KEY        the API key (default $OSSA_API_KEY, else, for a gateway on this
                       machine, the admin key its first start wrote to $OSSA_DATA_DIR/admin.key)
  --output FORMAT      table or json (default table)

Run 'ossa keys <verb> --help' for the flags of a verb.
`

// runKeys runs `ossa keys <verb>`, with runAgents' exit codes.
func runKeys(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, keysUsage)
		return 2
	}
	c := &agentsCLI{command: "ossa keys", stdout: stdout, stderr: stderr, getenv: getenv}
	var err error
	switch verb := args[0]; verb {
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, keysUsage)
		return 0
	case "create":
		err = c.createKey(ctx, args[1:])
	case "list":
		err = c.listKeys(ctx, args[1:])
	case "revoke":
		err = c.revokeKey(ctx, args[1:])
	default:
		fmt.Fprintf(stderr, "ossa keys: unknown verb %q\n\n%s", verb, keysUsage)
		return 2
	}
	return c.exit(err)
}

// createKey handles `ossa keys create`.
func (c *agentsCLI) createKey(ctx context.Context, args []string) error {
	fs := c.flagSet("create", "--scopes LIST [flags]")
	var in ohttp.KeyInput
	fs.StringVar(&in.Namespace, "namespace", "", "the `namespace` the key acts in (default: yours)")
	namespaces := fs.String("namespaces", "", "comma-separated `namespaces` the key sees besides its own; * for every one")
	scopes := fs.String("scopes", "", "comma-separated `scopes`: "+scopeList())
	fs.StringVar(&in.ExpiresIn, "expires", "", "the key stops working after this `duration`: 90d, 12h (default: never)")
	fs.StringVar(&in.Name, "name", "", "what the key is for (`name`), such as ci")
	if _, err := c.parse(args); err != nil {
		return err
	}
	if *scopes == "" {
		return usageErrorf("--scopes is required: %s", scopeList())
	}
	list, err := platform.ParseScopes(*scopes)
	if err != nil {
		return usageErrorf("--scopes: %s", platform.ErrorMessage(err))
	}
	in.Scopes = list
	for _, ns := range strings.Split(*namespaces, ",") {
		if ns = strings.TrimSpace(ns); ns != "" {
			in.Namespaces = append(in.Namespaces, ns)
		}
	}
	k, err := c.client().CreateKey(ctx, in)
	if err != nil {
		return err
	}
	if c.output == "json" {
		return c.printJSON(k)
	}
	fmt.Fprintln(c.stdout, k.Key)
	fmt.Fprintf(c.stderr, "made API key %s (%s) in namespace %s with scopes %s%s; this is the only time it is shown\n",
		k.ID, k.Prefix, k.Namespace, joinScopes(k.Scopes), expiry(k.ExpiresAt))
	return nil
}

// listKeys handles `ossa keys list`.
func (c *agentsCLI) listKeys(ctx context.Context, args []string) error {
	fs := c.flagSet("list", "[flags]")
	all := fs.Bool("all", false, "the keys of every namespace you see")
	if _, err := c.parse(args); err != nil {
		return err
	}
	keys, err := c.client().ListKeys(ctx, *all)
	if err != nil {
		return err
	}
	if c.output == "json" {
		return c.printJSON(keys)
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PREFIX\tNAME\tNAMESPACE\tSCOPES\tSTATE\tLAST USED\tCREATED\tID")
	for _, k := range keys {
		state := "active"
		if err := k.Usable(time.Now()); err != nil {
			state = "expired"
			if k.RevokedAt != nil {
				state = "revoked"
			}
		}
		used := "-"
		if k.LastUsedAt != nil {
			used = k.LastUsedAt.Local().Format(time.DateTime)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", k.Prefix, orDash(k.Name), k.Namespace, joinScopes(k.Scopes),
			state, used, k.CreatedAt.Local().Format(time.DateTime), k.ID)
	}
	return tw.Flush()
}

// revokeKey handles `ossa keys revoke ID`.
func (c *agentsCLI) revokeKey(ctx context.Context, args []string) error {
	c.flagSet("revoke", "ID [flags]")
	pos, err := c.parse(args, "ID")
	if err != nil {
		return err
	}
	k, err := c.client().RevokeKey(ctx, pos[0])
	if err != nil {
		return err
	}
	if c.output == "json" {
		return c.printJSON(k)
	}
	fmt.Fprintf(c.stdout, "revoked API key %s (%s) of namespace %s\n", k.ID, k.Prefix, k.Namespace)
	return nil
}

func scopeList() string {
	names := make([]string, len(platform.AllScopes))
	for i, s := range platform.AllScopes {
		names[i] = string(s)
	}
	return strings.Join(names, ",")
}

func joinScopes(s []platform.Scope) string {
	names := make([]string, len(s))
	for i, v := range s {
		names[i] = string(v)
	}
	return strings.Join(names, ",")
}

func expiry(t *time.Time) string {
	if t == nil {
		return ", never expiring"
	}
	return ", expiring " + t.Local().Format(time.DateTime)
}
