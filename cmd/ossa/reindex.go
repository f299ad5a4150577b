package main

import (
	"context"
	"fmt"
	"io"
)

const reindexUsage = `Usage: ossa reindex [flags]

Embed every agent of every namespace again and rebuild the discovery index
(ossa agents search), in the background on the gateway; its log and the
ossa_discovery_index_* metrics say how far it got. Needs the admin scope.
The gateway indexes each change by itself, and re-indexes on its own when the
embedder changes: this is for when you want it now.

Flags:
  --server URL         the gateway (default $OSSA_SERVER, else http://localhost:3100)
  --api-key KEY        the API key (default $OSSA_API_KEY, else the local admin key)
  --output FORMAT      table or json (default table)
`

// runReindex runs `ossa reindex`, with runAgents' exit codes.
func runReindex(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	c := &agentsCLI{command: "ossa reindex", stdout: stdout, stderr: stderr, getenv: getenv, help: reindexUsage}
	return c.exit(c.reindex(ctx, args))
}

func (c *agentsCLI) reindex(ctx context.Context, args []string) error {
	c.flagSet("", "[flags]")
	if _, err := c.parse(args); err != nil {
		return err
	}
	res, err := c.client().Reindex(ctx)
	if err != nil {
		return err
	}
	if c.output == "json" {
		return c.printJSON(res)
	}
	fmt.Fprintf(c.stdout, "re-indexing %d agents in the background\n", res.Agents)
	return nil
}
