package engine_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/ossa-platform/platform"
	"github.com/ossa-platform/platform/discovery"
	"github.com/ossa-platform/platform/engine"
	"github.com/ossa-platform/platform/inmem"
	"github.com/ossa-platform/platform/lexical"
)

// describedAgent starts a real agent that answers status (then 200 with
// its name) and registers it with a description.
func (e *env) describedAgent(name, description string, caps []string, fail int, calls *atomic.Int32) {
	e.t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet {
			return
		}
		n := calls.Add(1)
		w.Header().Set("Content-Type", "application/json")
		if int(n) <= fail {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprint(w, `{"error":"warming up"}`)
			return
		}
		fmt.Fprintf(w, `{"output":{"from":%q}}`, name)
	}))
	e.t.Cleanup(srv.Close)
	a := &platform.Agent{Name: name, Type: platform.AgentWorker, Description: description, Capabilities: caps, Endpoint: srv.URL}
	a.Normalize()
	if err := e.db.CreateAgent(context.Background(), a); err != nil {
		e.t.Fatal(err)
	}
}

// discoveryEnv is an engine whose query steps discovery answers (the
// lexical embedder, an exact index and the store's full-text search), over
// three agents; Reindex indexes them.
func discoveryEnv(t *testing.T, backend string, invoiceFails int) (*env, map[string]*atomic.Int32) {
	t.Helper()
	svc := &discovery.Service{}
	e := newEnv(t, backend, engine.Config{Discoverer: svc})
	calls := map[string]*atomic.Int32{"invoice-reader": {}, "receipt-scanner": {}, "translator": {}}
	e.describedAgent("invoice-reader", "Extracts line items, totals and tax from PDF invoices", []string{"document-extraction"}, invoiceFails, calls["invoice-reader"])
	e.describedAgent("receipt-scanner", "Reads receipts and invoices photographed on a phone", []string{"document-extraction"}, 0, calls["receipt-scanner"])
	e.describedAgent("translator", "Translates documents between English, French and German", []string{"translation"}, 0, calls["translator"])
	emb, err := lexical.New(lexical.DefaultDimension)
	if err != nil {
		t.Fatal(err)
	}
	ix := inmem.NewVectorIndex(emb.Dimension())
	if _, err := (&discovery.Indexer{Agents: e.db, Embedder: emb, Index: ix}).Reindex(context.Background()); err != nil {
		t.Fatal(err)
	}
	*svc = discovery.Service{Agents: e.db, Text: e.db, Embedder: emb, Index: ix}
	return e, calls
}

func TestQueryStep(t *testing.T) { backends(t, testQueryStep) }

// testQueryStep: a step that says what it needs runs on the best agent
// discovery finds, and the step and its events say which and why.
func testQueryStep(t *testing.T, backend string) {
	t.Parallel()
	e, calls := discoveryEnv(t, backend, 0)
	r := e.run(`{"steps":[{"id":"read","kind":"Agent","query":"pull the line items out of a PDF invoice"}]}`, `{}`)
	out := output(t, r)
	if fmt.Sprint(out) != "map[read:map[from:invoice-reader]]" {
		t.Fatalf("output %v, want the invoice reader's", out)
	}
	s := r.Step("read")
	c := s.Choice
	if s.Agent != "invoice-reader" || c == nil || c.Query != "pull the line items out of a PDF invoice" || c.Rank != 1 ||
		c.Candidates != 3 || c.Score <= 0 || c.Similarity == nil || len(c.Matched) == 0 {
		t.Fatalf("step %s", dump(s))
	}
	if n := calls["invoice-reader"].Load(); n != 1 {
		t.Fatalf("the invoice reader was called %d times", n)
	}
	if _, err := e.db.SequenceEvents(context.Background()); err != nil {
		t.Fatal(err)
	}
	events, err := e.db.ListEvents(context.Background(), platform.EventQuery{})
	if err != nil {
		t.Fatal(err)
	}
	var started *platform.StepEventData
	for _, ev := range events {
		if ev.Type == platform.EventStepStarted && ev.RunID == r.ID {
			started = &platform.StepEventData{}
			if err := json.Unmarshal(ev.Data, started); err != nil {
				t.Fatal(err)
			}
		}
	}
	if started == nil || started.Agent != "invoice-reader" || started.Choice == nil || started.Choice.Query != c.Query {
		t.Fatalf("step.started = %s, want the choice in it", dump(started))
	}
}

func TestQueryStepRetriesTheNext(t *testing.T) { backends(t, testQueryStepRetriesTheNext) }

// testQueryStepRetriesTheNext: a retry after a failed call goes to the
// next-best agent, and the capability narrows the candidates.
func testQueryStepRetriesTheNext(t *testing.T, backend string) {
	t.Parallel()
	e, calls := discoveryEnv(t, backend, 1000) // the invoice reader always fails
	r := e.run(`{"steps":[{"id":"read","kind":"Agent","query":"pull the line items out of a PDF invoice",
	  "capability":"document-extraction","retry":{"max_attempts":2,"backoff":"fixed","initial_delay_seconds":0.01}}]}`, `{}`)
	output(t, r)
	s := r.Step("read")
	if s.Agent != "receipt-scanner" || s.Attempts != 2 || s.Choice == nil || s.Choice.Candidates > 2 {
		t.Fatalf("step %s, want the second attempt on the receipt scanner, one of the two agents with the capability", dump(s))
	}
	if calls["invoice-reader"].Load() != 1 || calls["receipt-scanner"].Load() != 1 || calls["translator"].Load() != 0 {
		t.Fatalf("calls: invoice %d, receipt %d, translator %d", calls["invoice-reader"].Load(), calls["receipt-scanner"].Load(), calls["translator"].Load())
	}
}

func TestQueryStepProblems(t *testing.T) { backends(t, testQueryStepProblems) }

func testQueryStepProblems(t *testing.T, backend string) {
	t.Parallel()
	e, _ := discoveryEnv(t, backend, 0)
	for _, tc := range []struct {
		spec   string
		agents []string
		want   string
	}{
		{`{"steps":[{"id":"a","query":"invoices","capability":"nothing-has-this"}]}`, nil,
			`/workflow/spec/steps/0/query: no available agent with capability "nothing-has-this" matches the query "invoices"`},
		{`{"steps":[{"id":"a","query":"invoices"}]}`, []string{"ghost-free-list-translator"}, `/agents/0`},
		{`{"steps":[{"id":"a","query":"invoices","capability":"document-extraction"}]}`, []string{"translator"},
			`/workflow/spec/steps/0/query: none of the run's agents with capability "document-extraction" matches`},
		{`{"steps":[{"id":"a","ref":"translator","query":"invoices"}]}`, nil, `not both`},
		{`{"steps":[{"id":"a","query":"   "}]}`, nil, `must say in words what the step needs`},
	} {
		_, err := e.submit(tc.spec, tc.agents, `{}`)
		if platform.ErrorCode(err) != platform.EINVALID || !strings.Contains(fmt.Sprint(err, problemsOf(err)), tc.want) {
			t.Errorf("%s with agents %v: %v %v, want EINVALID with %q", tc.spec, tc.agents, err, problemsOf(err), tc.want)
		}
	}
	// Without discovery, a query step is refused, not run on anyone.
	plain := newEnv(t, backend, engine.Config{})
	plain.agent("known", []string{"known-cap"}, echo("known"))
	_, err := plain.submit(`{"steps":[{"id":"a","query":"anything"}]}`, nil, `{}`)
	if !strings.Contains(fmt.Sprint(problemsOf(err)), "needs agent discovery") {
		t.Fatalf("a query step without discovery: %v %v", err, problemsOf(err))
	}
}

// problemsOf lists the fields and messages of an EINVALID error.
func problemsOf(err error) []string {
	var pe *platform.Error
	if !asError(err, &pe) {
		return nil
	}
	var out []string
	for _, p := range pe.Fields {
		out = append(out, p.Field+": "+p.Message)
	}
	return out
}
