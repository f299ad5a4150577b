// Package qdrant speaks to the Qdrant vector index over its REST API: a
// Client that checks Qdrant's health, and Index, the platform.VectorIndex
// kept in a Qdrant collection. docs/qdrant.md describes the collection's
// layout and how the adapter was verified.
package qdrant

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/ossa-platform/platform"
)

// MaxResponse is the most bytes of one Qdrant answer the client reads: a
// search of MaxVectorLimit hits with their small payloads is well below.
const MaxResponse = 16 << 20

// Client is a Qdrant REST client.
type Client struct {
	// URL is Qdrant's base URL (QDRANT_URL), "http://localhost:6333".
	URL string
	// APIKey, when set, goes in the api-key header of every request
	// (QDRANT_API_KEY).
	APIKey string
	// HTTPClient sends the requests; each request has its own deadline
	// from Timeout as well.
	HTTPClient *http.Client
	// Timeout bounds each request; 10s when 0.
	Timeout time.Duration
}

// New returns a client for the Qdrant server at url.
func New(url string) *Client {
	return &Client{URL: url, HTTPClient: &http.Client{Timeout: 30 * time.Second}}
}

// Backend returns "qdrant".
func (c *Client) Backend() string { return "qdrant" }

// Ping checks Qdrant's health endpoint.
func (c *Client) Ping(ctx context.Context) error {
	_, err := c.do(ctx, http.MethodGet, "/healthz", nil, nil)
	return err
}

// response is the envelope of every Qdrant answer: the result, and the
// error in status when the request failed.
type response struct {
	Result json.RawMessage `json:"result"`
	Status json.RawMessage `json:"status"`
}

// do sends a request with body as JSON (none when nil) and decodes the
// result of a 2xx answer into out (ignored when nil). A failure is a
// platform error: EUNAVAILABLE when Qdrant cannot be reached or fails,
// EINVALID (with Qdrant's message) when it refuses the request, ENOTFOUND
// when what the path names does not exist, ECONFLICT when it exists
// already.
func (c *Client) do(ctx context.Context, method, path string, body, out any) (int, error) {
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			// Only a value JSON cannot hold (a NaN in a vector) fails.
			return 0, platform.Errorf(platform.EINVALID, "qdrant: %s %s: the request cannot be written as JSON: %v", method, path, err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimSuffix(c.URL, "/")+path, rd)
	if err != nil {
		return 0, fmt.Errorf("qdrant: %s %s: %w", method, path, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if c.APIKey != "" {
		req.Header.Set("api-key", c.APIKey)
	}
	hc := c.HTTPClient
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return 0, fmt.Errorf("qdrant: %s %s: %w", method, path, err)
		}
		if errors.Is(err, context.DeadlineExceeded) {
			return 0, platform.Errorf(platform.EUNAVAILABLE, "qdrant at %s did not answer %s %s in time", c.URL, method, path)
		}
		return 0, platform.Errorf(platform.EUNAVAILABLE, "qdrant at %s cannot be reached: %v", c.URL, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, MaxResponse+1))
	if err != nil {
		return resp.StatusCode, platform.Errorf(platform.EUNAVAILABLE, "qdrant: read the answer to %s %s: %v", method, path, err)
	}
	if len(raw) > MaxResponse {
		return resp.StatusCode, platform.Errorf(platform.EUNAVAILABLE, "qdrant: the answer to %s %s is over %d bytes", method, path, MaxResponse)
	}
	if resp.StatusCode/100 != 2 {
		return resp.StatusCode, statusError(method, path, resp.StatusCode, raw)
	}
	if out == nil {
		return resp.StatusCode, nil
	}
	var env response
	if err := json.Unmarshal(raw, &env); err != nil {
		return resp.StatusCode, platform.Errorf(platform.EUNAVAILABLE, "qdrant: the answer to %s %s is not JSON: %v", method, path, err)
	}
	if err := json.Unmarshal(env.Result, out); err != nil || len(env.Result) == 0 || string(env.Result) == "null" {
		return resp.StatusCode, platform.Errorf(platform.EUNAVAILABLE, "qdrant: the answer to %s %s has no result of the expected shape: %.200s", method, path, raw)
	}
	return resp.StatusCode, nil
}

// statusError turns a failed answer into a platform error with Qdrant's
// own message ({"status": {"error": "..."}}).
func statusError(method, path string, status int, raw []byte) error {
	var env struct {
		Status struct {
			Error string `json:"error"`
		} `json:"status"`
	}
	msg := ""
	if json.Unmarshal(raw, &env) == nil {
		msg = env.Status.Error
	}
	if msg == "" {
		msg = strings.TrimSpace(string(raw[:min(len(raw), 200)]))
	}
	if msg == "" {
		msg = http.StatusText(status)
	}
	switch {
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return platform.Errorf(platform.EUNAVAILABLE, "qdrant refused %s %s (%d): %s; check QDRANT_API_KEY", method, path, status, msg)
	case status == http.StatusNotFound:
		return platform.Errorf(platform.ENOTFOUND, "qdrant: %s", msg)
	case status == http.StatusConflict:
		return platform.Errorf(platform.ECONFLICT, "qdrant: %s", msg)
	case status == http.StatusTooManyRequests || status >= 500:
		return platform.Errorf(platform.EUNAVAILABLE, "qdrant answered %s %s with %d: %s", method, path, status, msg)
	default:
		return platform.Errorf(platform.EINVALID, "qdrant refused %s %s: %s", method, path, msg)
	}
}
