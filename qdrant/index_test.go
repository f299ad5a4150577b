package qdrant

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ossa-platform/platform"
	"github.com/ossa-platform/platform/vectortest"
)

var collections atomic.Int64

// uniqueCollection names a collection no other test uses.
func uniqueCollection(prefix string) string {
	return fmt.Sprintf("%s_%d_%d", prefix, time.Now().UnixNano()%1e9, collections.Add(1))
}

// TestIndexEmulator runs the conformance suite on the adapter against the
// emulator, every request and answer validated twice against Qdrant's API
// document: by the emulator and by the adapter's transport. The emulator
// searches exactly, so the recall it reaches is 1 whatever params.exact
// says: the suite's recall check proves the adapter's plumbing here, not
// Qdrant's HNSW (TestIndexServer measures that on a real server).
func TestIndexEmulator(t *testing.T) {
	t.Parallel()
	e := newEmulator(t, "")
	tr := newCheckedTransport(t)
	// The suite's subtests are parallel: they end after this function
	// returns, before its cleanups.
	t.Cleanup(func() {
		seen := tr.seen()
		for _, op := range []string{"get_collection 404", "create_collection 200", "get_collection 200", "create_field_index 200",
			"upsert_points 200", "delete_points 200", "query_points 200", "count_points 200"} {
			if seen[op] == 0 {
				t.Errorf("the suite never sent %s through the checked transport; seen %v", op, seen)
			}
		}
		t.Logf("operations checked against the document: %v", seen)
	})
	vectortest.Run(t, func(t *testing.T, dim int) platform.VectorIndex {
		x, err := Open(context.Background(), Config{URL: e.URL(), Collection: uniqueCollection("ossa_test"), Model: "test-model",
			Dimension: dim, HTTPClient: tr.client()})
		if err != nil {
			t.Fatal(err)
		}
		return x
	}, vectortest.Options{RecallDocs: 1000})
}

// TestIndexServer runs the same suite against a real Qdrant at
// TEST_QDRANT_URL (TEST_QDRANT_API_KEY its key), its requests and answers
// validated against the document as well.
func TestIndexServer(t *testing.T) {
	url := os.Getenv("TEST_QDRANT_URL")
	if url == "" {
		t.Skip("TEST_QDRANT_URL is not set: no Qdrant server runs where this was written (no package, no container images), " +
			"so CI (CI=true) skips this too rather than fail; TestIndexEmulator runs the suite against the emulator of the v1.19.0 API document")
	}
	t.Parallel()
	tr := newCheckedTransport(t)
	vectortest.Run(t, func(t *testing.T, dim int) platform.VectorIndex {
		x, err := Open(context.Background(), Config{URL: url, APIKey: os.Getenv("TEST_QDRANT_API_KEY"),
			Collection: uniqueCollection("ossa_test"), Model: "test-model", Dimension: dim, Timeout: time.Minute, HTTPClient: tr.client()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := x.Drop(context.Background()); err != nil {
				t.Errorf("drop %s: %v", x.Collection(), err)
			}
		})
		return x
	}, vectortest.Options{RecallDocs: 2000})
}

// open opens an index on the emulator through a checked transport.
func open(t *testing.T, e *emulator, cfg Config) (*Index, error) {
	t.Helper()
	cfg.URL = e.URL()
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = newCheckedTransport(t).client()
	}
	return Open(context.Background(), cfg)
}

func docs(n, dim int) []platform.VectorDoc {
	var out []platform.VectorDoc
	for i := range n {
		v := make([]float32, dim)
		v[i%dim] = 1
		out = append(out, platform.VectorDoc{ID: fmt.Sprintf("agent-%d", i), Namespace: "team-a", Vector: v,
			Type: platform.AgentWorker, Status: platform.AgentActive, Capabilities: []string{"x"},
			Labels: map[string]string{"app.kubernetes.io/name": fmt.Sprintf("n%d", i)}})
	}
	return out
}

// TestOpenLayout checks the collection Open makes: cosine vectors of the
// dimension, the model and dimension in its metadata, a keyword index on
// each filtered field, and a point per agent whose payload keeps the
// agent's ID.
func TestOpenLayout(t *testing.T) {
	t.Parallel()
	e := newEmulator(t, "")
	x, err := open(t, e, Config{Model: "nomic-embed-text", Dimension: 3})
	if err != nil {
		t.Fatal(err)
	}
	if x.Collection() != DefaultCollection || x.Recreated() {
		t.Fatalf("collection %q, recreated %v", x.Collection(), x.Recreated())
	}
	ctx := context.Background()
	d := docs(1, 3)[0]
	id := "0190c1e4-7d3a-7b2c-9f00-0123456789ab"
	d2 := d
	d2.ID = id
	if err := x.Upsert(ctx, d, d2); err != nil {
		t.Fatal(err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	c := e.collections[DefaultCollection]
	if c.size != 3 || c.distance != "Cosine" || c.metadata[metaModel] != "nomic-embed-text" || c.metadata[metaDimension] != float64(3) {
		t.Fatalf("collection %d %s %v", c.size, c.distance, c.metadata)
	}
	for _, f := range indexedFields {
		if c.indexes[f] != "keyword" {
			t.Errorf("no keyword index on %s: %v", f, c.indexes)
		}
	}
	p, ok := c.points[PointID(d.ID)]
	if !ok || p.payload[fieldID] != d.ID || !slices.Equal(p.payload[fieldLabelPairs].([]any), []any{"app.kubernetes.io/name=n0"}) {
		t.Fatalf("point of %s: %+v", d.ID, p)
	}
	if _, ok := c.points[id]; !ok || PointID(id) != id {
		t.Fatalf("a UUID agent ID is not its own point ID: %v", PointID(id))
	}
	// The point IDs of existing collections depend on these values: a
	// change would orphan every point of a non-UUID agent ID.
	for id, want := range map[string]string{"agent-0": "f0a525cf-bc08-52e7-b1df-98d95c3c6484", "agent-1": "5a09105b-7267-5d2e-80c3-3ceb562c22ae"} {
		if got := PointID(id); got != want {
			t.Errorf("PointID(%q) = %s, want %s", id, got, want)
		}
	}
}

// TestLabelWithDots checks a label key with dots and a slash filters as
// one key, not a path into nested objects.
func TestLabelWithDots(t *testing.T) {
	t.Parallel()
	e := newEmulator(t, "")
	x, err := open(t, e, Config{Model: "m", Dimension: 4})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := x.Upsert(ctx, docs(4, 4)...); err != nil {
		t.Fatal(err)
	}
	hits, err := x.Search(ctx, platform.VectorQuery{Vector: []float32{1, 0, 0, 0}, Limit: 10, Namespaces: []string{"team-a"},
		Labels: map[string]string{"app.kubernetes.io/name": "n2"}})
	if err != nil || len(hits) != 1 || hits[0].ID != "agent-2" {
		t.Fatalf("hits %v, %v; want agent-2", hits, err)
	}
}

// TestReopen checks that the points outlive a reopen with the same model
// and dimension, that another model or dimension empties the collection
// (so the indexer re-indexes), and that a collection OSSA did not make is
// refused and left alone.
func TestReopen(t *testing.T) {
	t.Parallel()
	e := newEmulator(t, "")
	ctx := context.Background()
	cfg := Config{Collection: "agents", Model: "m1", Dimension: 4}
	x, err := open(t, e, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := x.Upsert(ctx, docs(3, 4)...); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		model string
		dim   int
		want  int
	}{{"m1", 4, 3}, {"m2", 4, 0}, {"m2", 8, 0}} {
		cfg.Model, cfg.Dimension = tt.model, tt.dim
		x, err := open(t, e, cfg)
		if err != nil {
			t.Fatal(err)
		}
		n, err := x.Count(ctx)
		if err != nil || n != tt.want || x.Recreated() != (tt.want == 0) {
			t.Fatalf("%s/%d: count %d, %v, recreated %v; want %d", tt.model, tt.dim, n, err, x.Recreated(), tt.want)
		}
		if err := x.Upsert(ctx, docs(2, tt.dim)...); err != nil {
			t.Fatal(err)
		}
	}

	// Another program's collection, with no OSSA metadata.
	hc := newCheckedTransport(t).client()
	req, _ := http.NewRequest(http.MethodPut, e.URL()+"/collections/theirs", strings.NewReader(`{"vectors":{"size":4,"distance":"Dot"}}`))
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("create theirs: %v %v", resp, err)
	}
	resp.Body.Close()
	_, err = open(t, e, Config{Collection: "theirs", Model: "m1", Dimension: 4})
	if platform.ErrorCode(err) != platform.ECONFLICT {
		t.Fatalf("opening a foreign collection: %v, want conflict", err)
	}
	e.mu.Lock()
	_, kept := e.collections["theirs"]
	e.mu.Unlock()
	if !kept {
		t.Fatal("Open dropped a collection OSSA did not make")
	}
}

// TestTiesAcrossTheLimit checks that ties are ordered by agent ID even
// when Qdrant (here the emulator, which orders ties by point ID) returns
// them in another order and more tie than the limit takes.
func TestTiesAcrossTheLimit(t *testing.T) {
	t.Parallel()
	e := newEmulator(t, "")
	x, err := open(t, e, Config{Model: "m", Dimension: 2})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var ds []platform.VectorDoc
	var want []string
	for i := range 20 {
		id := fmt.Sprintf("tie-%02d", i)
		ds = append(ds, platform.VectorDoc{ID: id, Namespace: "n", Vector: []float32{1, 1}})
		want = append(want, id)
	}
	ds = append(ds, platform.VectorDoc{ID: "zz-best", Namespace: "n", Vector: []float32{1, 0.9}})
	if err := x.Upsert(ctx, ds...); err != nil {
		t.Fatal(err)
	}
	for _, limit := range []int{1, 3, 5, 19, 21, 30} {
		hits, err := x.Search(ctx, platform.VectorQuery{Vector: []float32{1, 1}, Limit: limit, Namespaces: []string{"n", "n"}})
		if err != nil {
			t.Fatal(err)
		}
		got := make([]string, 0, len(hits))
		for _, h := range hits {
			got = append(got, h.ID)
		}
		w := append(slices.Clone(want), "zz-best")[:min(limit, 21)]
		if !slices.Equal(got, w) {
			t.Fatalf("limit %d: %v, want %v", limit, got, w)
		}
	}
}

// TestAPIKey checks the api-key header: with the key the index opens,
// without it or with another Qdrant's refusal is EUNAVAILABLE naming
// QDRANT_API_KEY.
func TestAPIKey(t *testing.T) {
	t.Parallel()
	e := newEmulator(t, "s3cret")
	if _, err := open(t, e, Config{Model: "m", Dimension: 2, APIKey: "s3cret"}); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"", "wrong"} {
		_, err := Open(context.Background(), Config{URL: e.URL(), Model: "m", Dimension: 2, APIKey: key})
		if platform.ErrorCode(err) != platform.EUNAVAILABLE || !strings.Contains(err.Error(), "QDRANT_API_KEY") {
			t.Errorf("key %q: %v, want unavailable naming QDRANT_API_KEY", key, err)
		}
	}
}

// TestErrors checks how failures reach the caller: Qdrant out of reach,
// slow, or answering too much is EUNAVAILABLE; a request it refuses is
// EINVALID with its message; a collection dropped under the index is
// ENOTFOUND; a config Open cannot use is EINVALID naming the field.
func TestErrors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	if _, err := Open(ctx, Config{URL: closed.URL, Model: "m", Dimension: 2}); platform.ErrorCode(err) != platform.EUNAVAILABLE {
		t.Errorf("connection refused: %v, want unavailable", err)
	}
	if err := New(closed.URL).Ping(ctx); platform.ErrorCode(err) != platform.EUNAVAILABLE {
		t.Errorf("Ping, connection refused: %v, want unavailable", err)
	}

	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}))
	defer slow.Close()
	if _, err := Open(ctx, Config{URL: slow.URL, Model: "m", Dimension: 2, Timeout: 100 * time.Millisecond}); platform.ErrorCode(err) != platform.EUNAVAILABLE ||
		!strings.Contains(err.Error(), "in time") {
		t.Errorf("a slow Qdrant: %v, want unavailable", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := Open(cctx, Config{URL: slow.URL, Model: "m", Dimension: 2}); err == nil || platform.ErrorCode(err) == platform.EUNAVAILABLE {
		t.Errorf("a cancelled context: %v, want the cancellation, not unavailable", err)
	}

	big := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"result":{"x":"`))
		chunk := strings.Repeat("a", 1<<20)
		for range MaxResponse>>20 + 1 {
			_, _ = w.Write([]byte(chunk))
		}
		_, _ = w.Write([]byte(`"}}`))
	}))
	defer big.Close()
	if _, err := Open(ctx, Config{URL: big.URL, Model: "m", Dimension: 2}); platform.ErrorCode(err) != platform.EUNAVAILABLE ||
		!strings.Contains(err.Error(), "bytes") {
		t.Errorf("an answer over MaxResponse: %v, want unavailable", err)
	}

	e := newEmulator(t, "")
	x, err := open(t, e, Config{Collection: "c", Model: "m", Dimension: 2})
	if err != nil {
		t.Fatal(err)
	}
	// Another replica recreates the collection with another dimension:
	// Qdrant refuses the vectors, and its message reaches the caller.
	if _, err := open(t, e, Config{Collection: "c", Model: "m", Dimension: 3}); err != nil {
		t.Fatal(err)
	}
	err = x.Upsert(ctx, platform.VectorDoc{ID: "a", Namespace: "n", Vector: []float32{1, 0}})
	if platform.ErrorCode(err) != platform.EINVALID || !strings.Contains(err.Error(), "Vector dimension error") {
		t.Errorf("vectors Qdrant refuses: %v, want invalid with Qdrant's message", err)
	}
	if err := x.Drop(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := x.Count(ctx); platform.ErrorCode(err) != platform.ENOTFOUND {
		t.Errorf("count of a dropped collection: %v, want not found", err)
	}

	for _, cfg := range []Config{{URL: "localhost:6333", Model: "m", Dimension: 2}, {URL: e.URL(), Dimension: 2},
		{URL: e.URL(), Model: "m"}, {URL: e.URL(), Model: "m", Dimension: 2, Collection: "a/b"}} {
		if _, err := Open(ctx, cfg); platform.ErrorCode(err) != platform.EINVALID {
			t.Errorf("Open(%+v): %v, want invalid", cfg, err)
		}
	}
	if err := New(e.URL()).Ping(ctx); err != nil {
		t.Errorf("Ping: %v", err)
	}
}

// TestEmulatorRejectsInvalidRequests proves the emulator's validation can
// fail: bodies that break the document's schemas are refused with 400
// and recorded, before any handler runs.
func TestEmulatorRejectsInvalidRequests(t *testing.T) {
	t.Parallel()
	e := newEmulator(t, "")
	e.expectInvalid = true
	if _, err := open(t, e, Config{Collection: "c", Model: "m", Dimension: 2}); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ method, path, body string }{
		{"PUT", "/collections/c/points?wait=true", `{"points":[{"id":"agent-1","vector":[1,0]}]}`},
		{"PUT", "/collections/c/points?wait=maybe", `{"points":[{"id":1,"vector":[1,0]}]}`},
		{"POST", "/collections/c/points/query", `{"query":[1,0],"limit":0}`},
		{"POST", "/collections/c/points/query", `{"query":[1,0],"filter":{"must":[{"key":"namespace","match":{"any":"team-a"}}]}}`},
		{"POST", "/collections/c/points/count", `{"exact":"yes"}`},
		{"PUT", "/collections/d", `{"vectors":{"size":2,"distance":"cos"}}`},
	} {
		req, _ := http.NewRequest(tt.method, e.URL()+tt.path, strings.NewReader(tt.body))
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s %s %s: %d, want 400", tt.method, tt.path, tt.body, resp.StatusCode)
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.invalid) != 6 || len(e.collections["c"].points) != 0 || e.collections["d"] != nil {
		t.Fatalf("recorded %d invalid requests, want 6; points %d; collection d %v", len(e.invalid), len(e.collections["c"].points), e.collections["d"])
	}
}
