package serve_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ossa-platform/platform"
	"github.com/ossa-platform/platform/cmd/ossa/serve"
	ohttp "github.com/ossa-platform/platform/http"
	"github.com/ossa-platform/platform/lexical"
	"github.com/ossa-platform/platform/ossatest"
)

// embeddings is an OpenAI-compatible /v1/embeddings endpoint the test
// starts (the lexical embedder behind it) that answers 503 while down.
type embeddings struct {
	*httptest.Server
	down  atomic.Bool
	calls atomic.Int32
}

func newEmbeddings(t *testing.T) *embeddings {
	t.Helper()
	model, err := lexical.New(32)
	if err != nil {
		t.Fatal(err)
	}
	e := &embeddings{}
	e.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.calls.Add(1)
		if e.down.Load() {
			http.Error(w, `{"error":{"message":"loading model"}}`, http.StatusServiceUnavailable)
			return
		}
		var req struct{ Input []string }
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		type item struct {
			Index     int       `json:"index"`
			Embedding []float32 `json:"embedding"`
		}
		out := struct {
			Data []item `json:"data"`
		}{}
		for i, s := range req.Input {
			out.Data = append(out.Data, item{i, model.Vector(s)})
		}
		_ = json.NewEncoder(w).Encode(out)
	}))
	t.Cleanup(e.Close)
	return e
}

func withEmbeddings(e *embeddings, dim int) ossatest.Option {
	return ossatest.WithConfig(func(c *serve.Config) {
		c.EmbeddingsURL, c.EmbeddingsModel, c.EmbeddingsDimension = e.URL, "test-embed", dim
		c.EmbeddingsTimeout, c.DiscoveryRetry = time.Second, 50*time.Millisecond
	})
}

func health(t *testing.T, p *ossatest.Platform) *ohttp.Health {
	t.Helper()
	h, err := p.Client.Health(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// eventually retries check until it passes or 10 s have gone.
func eventually(t *testing.T, what string, check func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !check() {
		if time.Now().After(deadline) {
			t.Fatalf("%s did not happen within 10s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestEmbeddingsEndpointDown: while the embeddings endpoint is down,
// registration succeeds, /health says degraded and search ranks by words;
// once it answers, the agent is indexed without anyone asking.
func TestEmbeddingsEndpointDown(t *testing.T) {
	t.Parallel()
	e := newEmbeddings(t)
	e.down.Store(true)
	p := ossatest.Start(t, withEmbeddings(e, 32))
	ctx := context.Background()
	if _, err := p.Client.CreateAgent(ctx, ohttp.AgentInput{Name: "invoice-reader", Type: platform.AgentWorker,
		Description: "Extracts line items from PDF invoices", Capabilities: []string{"invoice-extraction"},
		Endpoint: "http://127.0.0.1:1"}); err != nil {
		t.Fatalf("registration while the embeddings endpoint is down: %v", err)
	}
	eventually(t, "/health reporting the embedder down", func() bool {
		h := health(t, p)
		return h.Status == "degraded" && h.Dependencies.Embeddings.Status == "down" && h.Dependencies.Embeddings.Backend == "test-embed"
	})
	if h := health(t, p); h.Dependencies.Embeddings.Error == "" {
		t.Fatalf("/health says not why the embedder is down: %+v", h.Dependencies.Embeddings)
	}
	found, err := p.Client.SearchAgents(ctx, ohttp.DiscoverInput{Query: "invoices"})
	if err != nil || len(found.Items) != 1 || found.Items[0].TextRank != 1 || found.Items[0].Similarity != nil {
		t.Fatalf("search while down = %+v, %v; want the agent by words alone", found, err)
	}
	e.down.Store(false)
	eventually(t, "the agent indexed after the endpoint came back", func() bool {
		found, err := p.Client.SearchAgents(ctx, ohttp.DiscoverInput{Query: "reads invoice documents"})
		return err == nil && len(found.Items) == 1 && found.Items[0].Similarity != nil && found.Items[0].VectorRank == 1
	})
	eventually(t, "/health healthy again", func() bool { return health(t, p).Status == "healthy" })
}

// TestEmbeddingsEndpointDownAtStart: without OSSA_EMBEDDINGS_DIMENSION the
// model's dimension is asked at start; an endpoint down then still lets the
// gateway start, ranking by words, and /health says why.
func TestEmbeddingsEndpointDownAtStart(t *testing.T) {
	t.Parallel()
	e := newEmbeddings(t)
	e.down.Store(true)
	p := ossatest.Start(t, withEmbeddings(e, 0))
	h := health(t, p)
	if h.Status != "degraded" || h.Dependencies.Embeddings.Status != "down" || h.Dependencies.Vector.Status != "disabled" {
		t.Fatalf("health = %+v", h)
	}
	if _, err := p.Client.SearchAgents(context.Background(), ohttp.DiscoverInput{Query: "invoices"}); err != nil {
		t.Fatalf("search by words: %v", err)
	}
}

// TestEmbeddingsEndpointAsksDimension: with the endpoint up and no
// dimension given, the gateway learns it and indexes with the model.
func TestEmbeddingsEndpointAsksDimension(t *testing.T) {
	t.Parallel()
	e := newEmbeddings(t)
	p := ossatest.Start(t, withEmbeddings(e, 0))
	ctx := context.Background()
	if _, err := p.Client.CreateAgent(ctx, ohttp.AgentInput{Name: "translator", Type: platform.AgentWorker,
		Description: "Translates documents between languages", Capabilities: []string{"translation"},
		Endpoint: "http://127.0.0.1:1"}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the agent indexed", func() bool {
		found, err := p.Client.SearchAgents(ctx, ohttp.DiscoverInput{Query: "translating"})
		return err == nil && len(found.Items) == 1 && found.Items[0].Similarity != nil
	})
	if h := health(t, p); h.Status != "healthy" || h.Dependencies.Embeddings.Backend != "test-embed" {
		t.Fatalf("health = %+v", h)
	}
}

// TestVectorIndexChosen: OSSA_VECTOR_INDEX=auto takes the embedded index
// on SQLite and pgvector on a PostgreSQL that has it, and an agent
// registered is found through it.
func TestVectorIndexChosen(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		opts []ossatest.Option
		want string
	}{
		{"sqlite", nil, "embedded"},
		{"postgres", []ossatest.Option{ossatest.WithPostgres()}, "pgvector"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := ossatest.Start(t, tc.opts...)
			ctx := context.Background()
			if _, err := p.Client.CreateAgent(ctx, ohttp.AgentInput{Name: "invoice-reader", Type: platform.AgentWorker,
				Description: "Extracts line items from PDF invoices", Capabilities: []string{"invoice-extraction"},
				Endpoint: "http://127.0.0.1:1"}); err != nil {
				t.Fatal(err)
			}
			if h := health(t, p); h.Dependencies.Vector.Backend != tc.want || h.Dependencies.Vector.Status != "connected" {
				t.Fatalf("vector index %+v, want %s connected", h.Dependencies.Vector, tc.want)
			}
			eventually(t, "the agent found by its embedding", func() bool {
				found, err := p.Client.SearchAgents(ctx, ohttp.DiscoverInput{Query: "invoicing"})
				return err == nil && len(found.Items) == 1 && found.Items[0].Similarity != nil
			})
		})
	}
}
