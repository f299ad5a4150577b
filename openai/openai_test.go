package openai_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ossa-platform/platform"
	"github.com/ossa-platform/platform/lexical"
	"github.com/ossa-platform/platform/openai"
)

// server is an OpenAI-compatible embeddings endpoint: the lexical
// embedder behind POST /v1/embeddings, as Ollama or vLLM answer it
// (vectors not normalised, data in reverse order to prove indexes are
// honoured). fail, when set, answers a request instead.
type server struct {
	*httptest.Server
	model    *lexical.Embedder
	requests atomic.Int32
	mu       sync.Mutex
	batches  []int
	auth     []string
	fail     func(n int32, w http.ResponseWriter) bool
}

func newServer(t *testing.T) *server {
	t.Helper()
	m, err := lexical.New(32)
	if err != nil {
		t.Fatal(err)
	}
	s := &server{model: m}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

func (s *server) serve(w http.ResponseWriter, r *http.Request) {
	n := s.requests.Add(1)
	if r.Method != http.MethodPost || r.URL.Path != "/v1/embeddings" || r.Header.Get("Content-Type") != "application/json" {
		http.Error(w, `{"error":{"message":"not found"}}`, http.StatusNotFound)
		return
	}
	if s.fail != nil && s.fail(n, w) {
		return
	}
	var req struct {
		Model          string   `json:"model"`
		Input          []string `json:"input"`
		EncodingFormat string   `json:"encoding_format"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.Model != "test-embed" || len(req.Input) == 0 || req.EncodingFormat != "float" {
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, `{"error":{"message":"bad request: %v"}}`, err)
		return
	}
	s.mu.Lock()
	s.batches = append(s.batches, len(req.Input))
	s.auth = append(s.auth, r.Header.Get("Authorization"))
	s.mu.Unlock()
	type item struct {
		Object    string    `json:"object"`
		Index     int       `json:"index"`
		Embedding []float32 `json:"embedding"`
	}
	var data []item
	for i := len(req.Input) - 1; i >= 0; i-- {
		v := s.model.Vector(req.Input[i])
		for j := range v {
			v[j] *= 3 // not unit length: the client normalises
		}
		data = append(data, item{"embedding", i, v})
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"object": "list", "model": req.Model, "data": data,
		"usage": map[string]int{"prompt_tokens": 1, "total_tokens": 1}})
}

func config(s *server) openai.Config {
	return openai.Config{URL: s.URL, Model: "test-embed", Backoff: time.Millisecond, Timeout: 2 * time.Second}
}

func TestOpenLearnsDimensionAndEmbedsInBatches(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	cfg := config(s)
	cfg.BatchSize, cfg.APIKey = 3, "sk-test"
	e, err := openai.Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if e.Dimension() != 32 || e.Model() != "test-embed" {
		t.Fatalf("Dimension, Model = %d, %q", e.Dimension(), e.Model())
	}
	texts := []string{"invoices", "pdf line items", "translate", "schedule meetings", "summaries", "code review", "tickets"}
	got, err := e.Embed(context.Background(), texts)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range got {
		want := s.model.Vector(texts[i])
		if c := platform.Cosine(v, want); math.Abs(float64(c)-1) > 1e-5 {
			t.Errorf("text %d: cosine with the model's vector %v, want 1 (order kept)", i, c)
		}
		var n float64
		for _, x := range v {
			n += float64(x) * float64(x)
		}
		if math.Abs(n-1) > 1e-4 {
			t.Errorf("text %d: not normalised (%v)", i, n)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if fmt.Sprint(s.batches) != "[1 3 3 1]" { // the probe, then 7 texts by 3
		t.Errorf("batches %v, want [1 3 3 1]", s.batches)
	}
	for _, a := range s.auth {
		if a != "Bearer sk-test" {
			t.Errorf("Authorization %q", a)
		}
	}
}

func TestURLEndingInV1(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	cfg := config(s)
	cfg.URL, cfg.Dimension = s.URL+"/v1/", 32
	e, err := openai.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Embed(context.Background(), []string{"x"}); err != nil {
		t.Fatal(err)
	}
}

func TestRetriesWhatMayPass(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	s.fail = func(n int32, w http.ResponseWriter) bool {
		switch n {
		case 1:
			http.Error(w, "overloaded", http.StatusServiceUnavailable)
		case 2:
			w.WriteHeader(http.StatusTooManyRequests)
		default:
			return false
		}
		return true
	}
	cfg := config(s)
	cfg.Dimension = 32
	e, _ := openai.New(cfg)
	if _, err := e.Embed(context.Background(), []string{"x"}); err != nil {
		t.Fatalf("after a 503 and a 429, the third try should pass: %v", err)
	}
	if n := s.requests.Load(); n != 3 {
		t.Fatalf("%d requests, want 3", n)
	}
}

func TestClearErrors(t *testing.T) {
	t.Parallel()
	down := httptest.NewServer(http.NotFoundHandler())
	downURL := down.URL
	down.Close()
	for _, tc := range []struct {
		name     string
		fail     func(int32, http.ResponseWriter) bool
		url      string
		requests int32
		want     string
	}{
		{name: "down", url: downURL, want: "cannot be reached"},
		{name: "model unknown", requests: 1, want: `answered 404 Not Found: model "test-embed" not found`, fail: func(_ int32, w http.ResponseWriter) bool {
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, `{"error":{"message":"model \"test-embed\" not found"}}`)
			return true
		}},
		{name: "server error", requests: 3, want: "answered 500 Internal Server Error: boom", fail: func(_ int32, w http.ResponseWriter) bool {
			http.Error(w, "boom", http.StatusInternalServerError)
			return true
		}},
		{name: "not json", requests: 1, want: "not an embeddings list", fail: func(_ int32, w http.ResponseWriter) bool {
			fmt.Fprint(w, "<html>")
			return true
		}},
		{name: "too few", requests: 1, want: "answered 0 embeddings for 1 texts", fail: func(_ int32, w http.ResponseWriter) bool {
			fmt.Fprint(w, `{"data":[]}`)
			return true
		}},
		{name: "wrong dimension", requests: 1, want: "answered 2 dimensions", fail: func(_ int32, w http.ResponseWriter) bool {
			fmt.Fprint(w, `{"data":[{"index":0,"embedding":[1,2]}]}`)
			return true
		}},
		{name: "bad index", requests: 1, want: "out of range", fail: func(_ int32, w http.ResponseWriter) bool {
			fmt.Fprint(w, `{"data":[{"index":5,"embedding":[1,2]}]}`)
			return true
		}},
		{name: "slow", requests: 3, want: "did not answer within 50ms", fail: func(_ int32, w http.ResponseWriter) bool {
			time.Sleep(200 * time.Millisecond)
			return true
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newServer(t)
			s.fail = tc.fail
			cfg := config(s)
			cfg.Dimension, cfg.Timeout = 32, 50*time.Millisecond
			if tc.url != "" {
				cfg.URL = tc.url
			}
			e, _ := openai.New(cfg)
			_, err := e.Embed(context.Background(), []string{"x"})
			if platform.ErrorCode(err) != platform.EUNAVAILABLE || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Embed = %v, want EUNAVAILABLE saying %q", err, tc.want)
			}
			if got := s.requests.Load(); tc.url == "" && got != tc.requests {
				t.Fatalf("%d requests, want %d", got, tc.requests)
			}
		})
	}
}

func TestNewRefusesIncompleteConfig(t *testing.T) {
	t.Parallel()
	for _, cfg := range []openai.Config{{Model: "m"}, {URL: "http://x"}, {URL: "http://x", Model: "m", Dimension: -1}} {
		if _, err := openai.New(cfg); platform.ErrorCode(err) != platform.EINVALID {
			t.Errorf("New(%+v) = %v, want EINVALID", cfg, err)
		}
	}
}
