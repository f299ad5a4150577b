package http_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"

	ohttp "github.com/ossa-platform/platform/http"
	"github.com/ossa-platform/platform/internal/openapicheck"
)

// TestMain checks every answer the gateway gives these tests against the
// OpenAPI document it serves: the tests' requests (and the Go client's)
// go through http.DefaultTransport, which is wrapped to check each
// response. An answer that disagrees fails the run, naming the request.
func TestMain(m *testing.M) {
	doc, err := openapicheck.Load(ohttp.OpenAPIDocument())
	if err != nil {
		fmt.Fprintln(os.Stderr, "the served OpenAPI document:", err)
		os.Exit(1)
	}
	checker := &checkingTransport{next: http.DefaultTransport, doc: doc}
	http.DefaultTransport = checker
	code := m.Run()
	if len(checker.problems) > 0 {
		fmt.Fprintf(os.Stderr, "FAIL: %d answers of the gateway disagree with its OpenAPI document:\n  %s\n",
			len(checker.problems), strings.Join(checker.problems, "\n  "))
		code = 1
	}
	os.Exit(code)
}

// checkingTransport checks the gateway's answers as they pass. Streams
// (Server-Sent Events, upgraded connections) are checked by their status
// and media type only, so they still stream.
type checkingTransport struct {
	next http.RoundTripper
	doc  *openapicheck.Doc

	mu       sync.Mutex
	problems []string
}

func (c *checkingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := c.next.RoundTrip(req)
	switch {
	case err != nil:
		return resp, err
	case resp.Header.Get("X-Request-ID") == "" || resp.Header.Get("Content-Security-Policy") == "":
		// Not the gateway, which sets both on every answer: an agent of a
		// test, or a proxy's own answer.
		return resp, nil
	case req.Method == http.MethodOptions && req.Header.Get("Access-Control-Request-Method") != "":
		return resp, nil // a CORS preflight, which the middleware answers on every path
	}
	var body []byte
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") || resp.StatusCode == http.StatusSwitchingProtocols {
		body = nil
	} else {
		body, err = io.ReadAll(resp.Body)
		resp.Body.Close()
		resp.Body = io.NopCloser(bytes.NewReader(body))
		if err != nil {
			return resp, nil // the test sees the cut body itself
		}
	}
	if err := c.doc.Check(req.Method, req.URL.Path, resp.StatusCode, resp.Header.Get("Content-Type"), body); err != nil {
		c.mu.Lock()
		c.problems = append(c.problems, fmt.Sprintf("%s (request %s)", err, resp.Header.Get("X-Request-ID")))
		c.mu.Unlock()
	}
	return resp, nil
}

// TestOpenAPIDocumentIsSound: every $ref of the served document names
// something, every schema compiles, and every example matches its schema,
// so the examples a reader copies are true.
func TestOpenAPIDocumentIsSound(t *testing.T) {
	doc, err := openapicheck.Load(ohttp.OpenAPIDocument())
	if err != nil {
		t.Fatal(err)
	}
	for _, err := range doc.Lint() {
		t.Error(err)
	}
}
