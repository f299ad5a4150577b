package ossatest_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/ossa-platform/platform"
	"github.com/ossa-platform/platform/cmd/ossa/serve"
	ohttp "github.com/ossa-platform/platform/http"
	"github.com/ossa-platform/platform/ossatest"
)

// A program starts a throwaway platform with Open, registers an agent
// through the gateway's API and finds it in the store.
func Example() {
	ctx := context.Background()
	p, err := ossatest.Open(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer p.Close()
	created, err := p.Client.CreateAgent(ctx, ohttp.AgentInput{
		Name: "summarizer", Type: platform.AgentWorker, Capabilities: []string{"summarize"}, Endpoint: "http://127.0.0.1:9001",
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	stored, err := p.Store.FindAgent(ctx, platform.DefaultNamespace, "summarizer")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(created.Name, created.Status, stored.ID == created.ID, p.Store.Backend())
	// Output: summarizer active true sqlite
}

// A test starts a platform with Start, which closes it when the test
// ends; options tune it, here on PostgreSQL (TEST_POSTGRES_URL) with a
// short limit on agent calls.
func ExampleStart() {
	var t *testing.T // the test's own
	p := ossatest.Start(t, ossatest.WithPostgres(), ossatest.WithConfig(func(c *serve.Config) {
		c.StepTimeout = 100 * time.Millisecond
	}))
	if _, err := p.Client.Health(context.Background()); err != nil {
		t.Fatal(err)
	}
}
