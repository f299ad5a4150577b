// Package openai is the platform.Embedder of any OpenAI-compatible
// embeddings endpoint (POST {URL}/v1/embeddings): Ollama, vLLM, the
// llama.cpp server, OpenAI itself. It sends texts in batches, bounds each
// request by a timeout, retries what may pass on a second try (network
// errors, 429, 5xx) with backoff, and answers EUNAVAILABLE when the
// endpoint stays down, so discovery indexes the agent later.
package openai

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/ossa-platform/platform"
)

// Config says which endpoint and model to use.
type Config struct {
	// URL is the endpoint's base: https://api.openai.com, or
	// http://localhost:11434 for Ollama; /v1/embeddings is added unless
	// it ends in /v1 already (then /embeddings). Required.
	URL string
	// Model is the model to ask for ("nomic-embed-text"). Required.
	Model string
	// APIKey is sent as a bearer token when set.
	APIKey string
	// Dimension is the length of the model's vectors; 0 asks the
	// endpoint once, in Open.
	Dimension int
	// BatchSize is how many texts one request carries; default 64.
	BatchSize int
	// Timeout bounds each request; default 30s.
	Timeout time.Duration
	// Retries is how many times a failed request is tried again; default
	// 2. Backoff is the wait before the first retry, doubled each time;
	// default 500ms.
	Retries int
	Backoff time.Duration
	// HTTPClient sends the requests; default a client of its own.
	HTTPClient *http.Client
}

// maxResponse bounds what of an answer is read: 64 texts of 4096
// dimensions in JSON are a few MiB.
const maxResponse = 64 << 20

// WithDefaults returns c with its defaults filled in.
func (c Config) WithDefaults() Config {
	if c.BatchSize <= 0 {
		c.BatchSize = 64
	}
	if c.Timeout <= 0 {
		c.Timeout = 30 * time.Second
	}
	if c.Retries < 0 {
		c.Retries = 0
	} else if c.Retries == 0 {
		c.Retries = 2
	}
	if c.Backoff <= 0 {
		c.Backoff = 500 * time.Millisecond
	}
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{}
	}
	return c
}

// Embedder is the platform.Embedder of an OpenAI-compatible endpoint.
type Embedder struct {
	cfg      Config
	endpoint string
	dim      int
}

var _ platform.Embedder = (*Embedder)(nil)

// New returns the embedder of cfg without calling the endpoint; cfg must
// give the Dimension.
func New(cfg Config) (*Embedder, error) {
	cfg = cfg.WithDefaults()
	if cfg.URL == "" || cfg.Model == "" {
		return nil, platform.Errorf(platform.EINVALID, "an embeddings endpoint needs its URL and model")
	}
	if cfg.Dimension < 0 {
		return nil, platform.Errorf(platform.EINVALID, "the dimension of %s cannot be %d", cfg.Model, cfg.Dimension)
	}
	base := strings.TrimRight(cfg.URL, "/")
	endpoint := base + "/v1/embeddings"
	if strings.HasSuffix(base, "/v1") {
		endpoint = base + "/embeddings"
	}
	return &Embedder{cfg: cfg, endpoint: endpoint, dim: cfg.Dimension}, nil
}

// Open returns the embedder of cfg; without a Dimension it asks the
// endpoint for the embedding of one word and takes its length.
func Open(ctx context.Context, cfg Config) (*Embedder, error) {
	e, err := New(cfg)
	if err != nil || e.dim > 0 {
		return e, err
	}
	vs, err := e.request(ctx, []string{"dimension"})
	if err != nil {
		return nil, err
	}
	e.dim = len(vs[0])
	return e, nil
}

// Model is the model's name.
func (e *Embedder) Model() string { return e.cfg.Model }

// Dimension is the length of its vectors.
func (e *Embedder) Dimension() int { return e.dim }

// Embed returns one L2-normalised vector per text, asking the endpoint
// BatchSize texts at a time.
func (e *Embedder) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	out := make([][]float32, 0, len(texts))
	for start := 0; start < len(texts); start += e.cfg.BatchSize {
		batch := texts[start:min(start+e.cfg.BatchSize, len(texts))]
		vs, err := e.request(ctx, batch)
		if err != nil {
			return nil, err
		}
		for i, v := range vs {
			if e.dim > 0 && len(v) != e.dim {
				return nil, platform.Errorf(platform.EUNAVAILABLE, "embeddings endpoint %s: %s answered %d dimensions for text %d, not %d",
					e.endpoint, e.cfg.Model, len(v), start+i, e.dim)
			}
			out = append(out, platform.Normalize(v))
		}
	}
	return out, nil
}

// embeddingsRequest is the body of POST /v1/embeddings.
type embeddingsRequest struct {
	Model          string   `json:"model"`
	Input          []string `json:"input"`
	EncodingFormat string   `json:"encoding_format"`
}

// embeddingsResponse is its answer: one embedding per input, each with
// the index of its input.
type embeddingsResponse struct {
	Data []struct {
		Index     int       `json:"index"`
		Embedding []float32 `json:"embedding"`
	} `json:"data"`
}

// errorResponse is OpenAI's error body; other servers send their own, or
// text.
type errorResponse struct {
	Error struct {
		Message string `json:"message"`
	} `json:"error"`
}

// request embeds texts in one call, retrying what may pass on a retry.
func (e *Embedder) request(ctx context.Context, texts []string) ([][]float32, error) {
	body, err := json.Marshal(embeddingsRequest{Model: e.cfg.Model, Input: texts, EncodingFormat: "float"})
	if err != nil {
		return nil, err
	}
	wait := e.cfg.Backoff
	for attempt := 0; ; attempt++ {
		vs, retry, err := e.try(ctx, body, len(texts))
		if err == nil {
			return vs, nil
		}
		if !retry || attempt == e.cfg.Retries || ctx.Err() != nil {
			return nil, err
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(wait):
		}
		wait *= 2
	}
}

// try sends one request; retry says whether another may pass.
func (e *Embedder) try(ctx context.Context, body []byte, n int) (vs [][]float32, retry bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, e.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.endpoint, bytes.NewReader(body))
	if err != nil {
		return nil, false, platform.Errorf(platform.EINVALID, "embeddings endpoint %s: %v", e.cfg.URL, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	if e.cfg.APIKey != "" {
		req.Header.Set("Authorization", "Bearer "+e.cfg.APIKey)
	}
	resp, err := e.cfg.HTTPClient.Do(req)
	if err != nil {
		var ue interface{ Timeout() bool }
		what := "cannot be reached"
		if errors.As(err, &ue) && ue.Timeout() {
			what = "did not answer within " + e.cfg.Timeout.String()
		}
		return nil, true, platform.Errorf(platform.EUNAVAILABLE, "embeddings endpoint %s %s: %v", e.endpoint, what, unwrapURL(err))
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse+1))
	if err != nil {
		return nil, true, platform.Errorf(platform.EUNAVAILABLE, "embeddings endpoint %s: reading the answer: %v", e.endpoint, err)
	}
	if len(b) > maxResponse {
		return nil, false, platform.Errorf(platform.EUNAVAILABLE, "embeddings endpoint %s answered more than %d bytes", e.endpoint, maxResponse)
	}
	if resp.StatusCode != http.StatusOK {
		retry := resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500
		return nil, retry, platform.Errorf(platform.EUNAVAILABLE, "embeddings endpoint %s answered %s: %s", e.endpoint, resp.Status, errorText(b))
	}
	var r embeddingsResponse
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, false, platform.Errorf(platform.EUNAVAILABLE, "embeddings endpoint %s: the answer is not an embeddings list: %v", e.endpoint, err)
	}
	if len(r.Data) != n {
		return nil, false, platform.Errorf(platform.EUNAVAILABLE, "embeddings endpoint %s answered %d embeddings for %d texts", e.endpoint, len(r.Data), n)
	}
	vs = make([][]float32, n)
	for _, d := range r.Data {
		if d.Index < 0 || d.Index >= n || vs[d.Index] != nil {
			return nil, false, platform.Errorf(platform.EUNAVAILABLE, "embeddings endpoint %s answered embedding index %d twice or out of range", e.endpoint, d.Index)
		}
		if len(d.Embedding) == 0 {
			return nil, false, platform.Errorf(platform.EUNAVAILABLE, "embeddings endpoint %s answered an empty embedding for text %d", e.endpoint, d.Index)
		}
		for _, x := range d.Embedding {
			if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
				return nil, false, platform.Errorf(platform.EUNAVAILABLE, "embeddings endpoint %s answered a non-finite number for text %d", e.endpoint, d.Index)
			}
		}
		vs[d.Index] = d.Embedding
	}
	return vs, false, nil
}

// errorText is what an error answer says, short.
func errorText(b []byte) string {
	var er errorResponse
	if json.Unmarshal(b, &er) == nil && er.Error.Message != "" {
		return platform.Truncate(er.Error.Message, 300)
	}
	if s := strings.TrimSpace(string(b)); s != "" {
		return platform.Truncate(s, 300)
	}
	return "no message"
}

// unwrapURL drops the *url.Error wrapper, whose text repeats the method
// and URL.
func unwrapURL(err error) error {
	if u := errors.Unwrap(err); u != nil {
		return u
	}
	return err
}

// String names the endpoint and model, for logs.
func (e *Embedder) String() string {
	return e.cfg.Model + " at " + e.endpoint + " (" + strconv.Itoa(e.dim) + " dimensions)"
}
