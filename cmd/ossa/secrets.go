package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ossa-platform/platform"
	ohttp "github.com/ossa-platform/platform/http"
)

const secretsUsage = `Usage: ossa secrets <verb> [arguments] [flags]

Verbs:
  set NAME             set the secret NAME of the namespace, from standard input
                       (one trailing newline dropped), --file FILE or --env VARIABLE;
                       never from the command line, which other users can see
  list                 list the namespace's secrets: names, key IDs and times, never values
  delete NAME          delete a secret
  rotate               re-encrypt every secret of the database under OSSA_SECRET_KEY;
                       reads the configuration as ossa serve does (its flags, the
                       environment, .env) and opens the database itself

Flags of set, list and delete:
  --server URL         the gateway (default $OSSA_SERVER, else http://localhost:3100)
  --output FORMAT      table or json (default table)

Run 'ossa secrets <verb> --help' for the flags of a verb.
`

// stdin is what `ossa secrets set` reads the value from by default.
var stdin io.Reader = os.Stdin

// runSecrets runs `ossa secrets <verb>`, with runAgents' exit codes.
func runSecrets(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, secretsUsage)
		return 2
	}
	if args[0] == "rotate" {
		return runRotate(ctx, args[1:], stdout, stderr, getenv)
	}
	c := &agentsCLI{command: "ossa secrets", stdout: stdout, stderr: stderr, getenv: getenv}
	var err error
	switch verb := args[0]; verb {
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, secretsUsage)
		return 0
	case "set":
		err = c.setSecret(ctx, args[1:])
	case "list":
		err = c.listSecrets(ctx, args[1:])
	case "delete":
		err = c.deleteSecret(ctx, args[1:])
	default:
		fmt.Fprintf(stderr, "ossa secrets: unknown verb %q\n\n%s", verb, secretsUsage)
		return 2
	}
	return c.exit(err)
}

// setSecret handles `ossa secrets set NAME`.
func (c *agentsCLI) setSecret(ctx context.Context, args []string) error {
	fs := c.flagSet("set", "NAME [--file FILE | --env VARIABLE] [flags]")
	file := fs.String("file", "", "read the value from this `file` (- for standard input, the default)")
	env := fs.String("env", "", "read the value from this environment `variable`")
	pos, err := c.parse(args, "NAME")
	if err != nil {
		return err
	}
	var value []byte
	switch {
	case *file != "" && *env != "":
		return usageErrorf("--file and --env cannot be combined")
	case *env != "":
		v := c.getenv(*env)
		if v == "" {
			return fmt.Errorf("the environment variable %s is not set or empty", *env)
		}
		value = []byte(v)
	case *file != "" && *file != "-":
		if value, err = os.ReadFile(*file); err != nil {
			return err
		}
	default:
		if value, err = io.ReadAll(io.LimitReader(stdin, platform.MaxSecretValueLen+2)); err != nil {
			return err
		}
	}
	// A file or a pipe ends with a newline that is not the value's.
	value = bytes.TrimSuffix(bytes.TrimSuffix(value, []byte("\n")), []byte("\r"))
	s, created, err := c.client().SetSecret(ctx, pos[0], string(value))
	if err != nil {
		return err
	}
	if c.output == "json" {
		return c.printJSON(s)
	}
	verb := "replaced the value of"
	if created {
		verb = "created"
	}
	fmt.Fprintf(c.stdout, "%s secret %s in namespace %s (key %s)\n", verb, s.Name, s.Namespace, s.KeyID)
	return nil
}

// listSecrets handles `ossa secrets list`.
func (c *agentsCLI) listSecrets(ctx context.Context, args []string) error {
	fs := c.flagSet("list", "[flags]")
	limit := fs.Int("limit", 0, "the page `size`, 1 to 100 (default: the server's, 50)")
	cursor := fs.String("cursor", "", "start at this `cursor`, the next_cursor of an earlier page")
	all := fs.Bool("all", false, "follow next_cursor to the last page")
	if _, err := c.parse(args); err != nil {
		return err
	}
	l, err := listPages(*all, *cursor, func(cursor string) (*ohttp.SecretList, error) {
		return c.client().ListSecrets(ctx, *limit, cursor)
	})
	if err != nil {
		return err
	}
	if c.output == "json" {
		return c.printJSON(l)
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tKEY\tCREATED\tUPDATED")
	for _, s := range l.Items {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", s.Name, s.KeyID, s.CreatedAt.Format(time.RFC3339), s.UpdatedAt.Format(time.RFC3339))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if l.NextCursor != nil {
		fmt.Fprintf(c.stderr, "more secrets follow: add --cursor %s, or --all\n", *l.NextCursor)
	}
	return nil
}

// deleteSecret handles `ossa secrets delete NAME`.
func (c *agentsCLI) deleteSecret(ctx context.Context, args []string) error {
	c.flagSet("delete", "NAME [flags]")
	pos, err := c.parse(args, "NAME")
	if err != nil {
		return err
	}
	if err := c.client().DeleteSecret(ctx, pos[0]); err != nil {
		return err
	}
	if c.output == "table" {
		fmt.Fprintf(c.stdout, "deleted secret %s\n", pos[0])
	}
	return nil
}

// runRotate runs `ossa secrets rotate`: it takes ossa serve's flags and
// configuration, re-encrypts the database's secrets under OSSA_SECRET_KEY
// and says what it did. It exits 1 when a secret could not be decrypted.
func runRotate(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	cfg, err := LoadConfig(args, getenv, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(stderr, "\nossa secrets rotate takes the flags of ossa serve, and reads the same environment and .env file.")
			return 0
		}
		fmt.Fprintf(stderr, "ossa secrets rotate: %v\n", err)
		return 2
	}
	// Only warnings: the database's own start-up lines are not this verb's.
	cfg.LogLevel = "warn"
	rep, err := rotateSecrets(ctx, cfg, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "ossa secrets rotate: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "re-encrypted %d secret(s) under key %s\n", rep.Resealed, rep.KeyID)
	if len(rep.Failed) == 0 {
		return 0
	}
	names := make([]string, 0, len(rep.Failed))
	for n := range rep.Failed {
		names = append(names, n)
	}
	sort.Strings(names)
	fmt.Fprintf(stderr, "ossa secrets rotate: %d secret(s) could not be decrypted and were left as they are:\n", len(names))
	for _, n := range names {
		fmt.Fprintf(stderr, "  %s: %s\n", n, rep.Failed[n])
	}
	fmt.Fprintln(stderr, strings.TrimSpace(`
Add the key they were encrypted under to OSSA_SECRET_KEY_PREVIOUS and run rotate again, or set them anew.`))
	return 1
}
