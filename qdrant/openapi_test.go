package qdrant

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// openAPIFile is Qdrant's published API document, copied into testdata so
// a clean clone has it; QDRANT_OPENAPI names another copy to test against.
func openAPIFile() string {
	if p := os.Getenv("QDRANT_OPENAPI"); p != "" {
		return p
	}
	return "testdata/openapi-v1.19.0.json"
}

// spec is Qdrant's OpenAPI 3.0 document, ready to validate the bodies of
// requests and answers against the schemas of their operation.
type spec struct {
	version   string
	raw       map[string]any
	templates [][]string
	compiler  *jsonschema.Compiler

	mu      sync.Mutex
	schemas map[string]*jsonschema.Schema
}

var (
	specOnce sync.Once
	theSpec  *spec
	specErr  error
)

// loadSpec returns the document of openAPIFile, compiled once for every
// test.
func loadSpec(t testing.TB) *spec {
	t.Helper()
	specOnce.Do(func() { theSpec, specErr = readSpec(openAPIFile()) })
	if specErr != nil {
		t.Fatal(specErr)
	}
	return theSpec
}

// resourceURL is the URL the document is known by to the schema compiler.
const resourceURL = "https://qdrant.invalid/openapi.json"

func readSpec(file string) (*spec, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("read Qdrant's API document (QDRANT_OPENAPI): %w", err)
	}
	var raw map[string]any
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	if v, _ := raw["openapi"].(string); !strings.HasPrefix(v, "3.0") {
		return nil, fmt.Errorf("%s is OpenAPI %q; the nullable handling here is for 3.0", file, v)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	s := &spec{raw: raw, compiler: jsonschema.NewCompiler(), schemas: map[string]*jsonschema.Schema{}}
	s.version, _ = raw["info"].(map[string]any)["version"].(string)
	for p := range raw["paths"].(map[string]any) {
		s.templates = append(s.templates, strings.Split(p, "/"))
	}
	// OpenAPI 3.0 schemas are a dialect of JSON Schema draft 5 whose
	// "nullable" no validator knows: rewritten as JSON Schema says it, a
	// lone {"nullable": true} (in "anyOf": [X, {"nullable": true}], the
	// document's way to write "X or null") must accept null alone, not
	// everything, or half the document would check nothing.
	s.compiler.DefaultDraft(jsonschema.Draft2020)
	s.compiler.AssertFormat()
	if err := s.compiler.AddResource(resourceURL, denull(doc)); err != nil {
		return nil, err
	}
	return s, nil
}

// denull rewrites OpenAPI 3.0's "nullable": true in every schema of v as
// JSON Schema: a type that also admits "null", or {"type": "null"} for a
// schema that says nothing else.
func denull(v any) any {
	switch n := v.(type) {
	case []any:
		for i := range n {
			n[i] = denull(n[i])
		}
	case map[string]any:
		for k := range n {
			n[k] = denull(n[k])
		}
		nb, ok := n["nullable"].(bool)
		delete(n, "nullable")
		if ok && nb {
			switch t := n["type"].(type) {
			case string:
				n["type"] = []any{t, "null"}
				if e, ok := n["enum"].([]any); ok {
					n["enum"] = append(e, nil)
				}
			case nil:
				constrained := false
				for k := range n {
					if !slices.Contains([]string{"description", "default", "example", "deprecated", "title"}, k) {
						constrained = true
					}
				}
				if !constrained {
					n["type"] = "null"
				} else {
					inner := map[string]any{}
					for k, x := range n {
						inner[k] = x
						delete(n, k)
					}
					n["anyOf"] = []any{map[string]any{"type": "null"}, inner}
				}
			}
		}
	}
	return v
}

// operation finds the path template of the document that path matches,
// literal segments before parameters, and its operation for method.
func (s *spec) operation(method, path string) (tmpl string, op map[string]any, err error) {
	segs := strings.Split(path, "/")
	best := -1
	for _, t := range s.templates {
		if len(t) != len(segs) {
			continue
		}
		literals := 0
		for i, p := range t {
			if strings.HasPrefix(p, "{") && strings.HasSuffix(p, "}") {
				continue
			}
			if p != segs[i] {
				literals = -1
				break
			}
			literals++
		}
		if literals > best {
			best, tmpl = literals, strings.Join(t, "/")
		}
	}
	if best < 0 {
		return "", nil, fmt.Errorf("%s %s: the document has no such path", method, path)
	}
	op, _ = s.raw["paths"].(map[string]any)[tmpl].(map[string]any)[strings.ToLower(method)].(map[string]any)
	if op == nil {
		return "", nil, fmt.Errorf("%s %s: the document has no %s operation on %s", method, path, method, tmpl)
	}
	return tmpl, op, nil
}

// checkRequest validates a request: its operation exists, its query
// parameters are the operation's and of their schema's type, and its body
// is valid against the operation's request schema.
func (s *spec) checkRequest(method, path string, query url.Values, contentType string, body []byte) (opID string, err error) {
	tmpl, op, err := s.operation(method, path)
	if err != nil {
		return "", err
	}
	opID, _ = op["operationId"].(string)
	what := fmt.Sprintf("the request %s (%s %s)", opID, method, path)
	params, _ := op["parameters"].([]any)
	for name, vals := range query {
		i := slices.IndexFunc(params, func(p any) bool {
			m, _ := p.(map[string]any)
			return m["in"] == "query" && m["name"] == name
		})
		if i < 0 {
			return opID, fmt.Errorf("%s has the query parameter %q, which the operation does not take", what, name)
		}
		ptr := pointer("paths", tmpl, strings.ToLower(method), "parameters", strconv.Itoa(i), "schema")
		sch, err := s.compile(ptr)
		if err != nil {
			return opID, err
		}
		for _, v := range vals {
			if err := sch.Validate(queryValue(v)); err != nil {
				return opID, fmt.Errorf("%s: the query parameter %s=%q does not match its schema: %w", what, name, v, err)
			}
		}
	}
	rb, _ := op["requestBody"].(map[string]any)
	if rb == nil {
		if len(bytes.TrimSpace(body)) > 0 {
			return opID, fmt.Errorf("%s has a body, and the operation takes none", what)
		}
		return opID, nil
	}
	if len(bytes.TrimSpace(body)) == 0 {
		if req, _ := rb["required"].(bool); req {
			return opID, fmt.Errorf("%s has no body, and the operation requires one", what)
		}
		return opID, nil
	}
	if mt, _, _ := mime.ParseMediaType(contentType); mt != "application/json" {
		return opID, fmt.Errorf("%s is sent as %q, not application/json", what, contentType)
	}
	ptr := pointer("paths", tmpl, strings.ToLower(method), "requestBody", "content", "application/json", "schema")
	return opID, s.validate(ptr, body, what)
}

// queryValue is the JSON value a query parameter's text stands for, as
// Qdrant's server reads it: a boolean or number where one is written.
func queryValue(v string) any {
	if b, err := strconv.ParseBool(v); err == nil && (v == "true" || v == "false") {
		return b
	}
	if _, err := strconv.ParseInt(v, 10, 64); err == nil {
		return json.Number(v)
	}
	return v
}

// checkResponse validates an answer of status to method path against the
// operation's response of that status ("200", else "4XX", else
// "default"): a JSON body must be valid against its schema.
func (s *spec) checkResponse(method, path string, status int, contentType string, body []byte) error {
	tmpl, op, err := s.operation(method, path)
	if err != nil {
		return err
	}
	opID, _ := op["operationId"].(string)
	responses, _ := op["responses"].(map[string]any)
	key := strconv.Itoa(status)
	if _, ok := responses[key]; !ok {
		key = key[:1] + "XX"
		if _, ok := responses[key]; !ok {
			key = "default"
		}
	}
	r, ok := responses[key].(map[string]any)
	if !ok {
		return fmt.Errorf("%s answered %d, which the document does not list", opID, status)
	}
	what := fmt.Sprintf("the %d answer to %s (%s %s)", status, opID, method, path)
	content, _ := r["content"].(map[string]any)
	mt, _, _ := mime.ParseMediaType(contentType)
	if len(content) == 0 {
		return nil
	}
	if _, ok := content[mt]; !ok {
		return fmt.Errorf("%s is %q; the document lists %v", what, contentType, mapKeys(content))
	}
	if mt != "application/json" {
		return nil
	}
	return s.validate(pointer("paths", tmpl, strings.ToLower(method), "responses", key, "content", mt, "schema"), body, what)
}

func mapKeys(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// validate checks a JSON body against the schema at the fragment ptr.
func (s *spec) validate(ptr string, body []byte, what string) error {
	sch, err := s.compile(ptr)
	if err != nil {
		return err
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("%s is not JSON: %w", what, err)
	}
	if err := sch.Validate(v); err != nil {
		return fmt.Errorf("%s does not match its schema in Qdrant's API document: %w\nbody: %.2000s", what, err, body)
	}
	return nil
}

// compile compiles the schema at the fragment ptr once.
func (s *spec) compile(ptr string) (*jsonschema.Schema, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sch, ok := s.schemas[ptr]; ok {
		return sch, nil
	}
	sch, err := s.compiler.Compile(resourceURL + ptr)
	if err != nil {
		return nil, fmt.Errorf("compile %s: %w", ptr, err)
	}
	s.schemas[ptr] = sch
	return sch, nil
}

// pointer is the URL fragment of the JSON pointer of tokens.
func pointer(tokens ...string) string {
	var b strings.Builder
	b.WriteString("#")
	r := strings.NewReplacer("~", "~0", "/", "~1")
	for _, t := range tokens {
		b.WriteString("/")
		b.WriteString(url.PathEscape(r.Replace(t)))
	}
	return b.String()
}

// checkedTransport validates every request the adapter sends and every
// answer it gets against the document, whatever answers (the emulator or
// a real Qdrant): what the adapter parses came through a schema-valid
// answer, or the test fails.
type checkedTransport struct {
	t    testing.TB
	spec *spec
	base http.RoundTripper

	mu  sync.Mutex
	ops map[string]int
}

func newCheckedTransport(t testing.TB) *checkedTransport {
	return &checkedTransport{t: t, spec: loadSpec(t), base: http.DefaultTransport, ops: map[string]int{}}
}

// client is an HTTP client whose requests go through c.
func (c *checkedTransport) client() *http.Client { return &http.Client{Transport: c} }

// RoundTrip checks the request, sends it, and checks the answer.
func (c *checkedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	var body []byte
	if req.Body != nil {
		var err error
		if body, err = io.ReadAll(req.Body); err != nil {
			return nil, err
		}
		req.Body.Close()
		req.Body = io.NopCloser(bytes.NewReader(body))
	}
	op, err := c.spec.checkRequest(req.Method, req.URL.Path, req.URL.Query(), req.Header.Get("Content-Type"), body)
	if err != nil {
		c.t.Errorf("adapter: %v", err)
	}
	resp, err := c.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	answer, err := io.ReadAll(io.LimitReader(resp.Body, MaxResponse+1))
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(answer))
	if err := c.spec.checkResponse(req.Method, req.URL.Path, resp.StatusCode, resp.Header.Get("Content-Type"), answer); err != nil {
		c.t.Errorf("answer: %v", err)
	}
	c.mu.Lock()
	c.ops[fmt.Sprintf("%s %d", op, resp.StatusCode)]++
	c.mu.Unlock()
	return resp, nil
}

// seen returns the operations and statuses c checked, with counts.
func (c *checkedTransport) seen() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]int{}
	for k, v := range c.ops {
		out[k] = v
	}
	return out
}

// TestSpecRejects proves the validation can fail: bodies that break the
// document's schemas, in requests and in answers, are refused, and the
// nullable rewriting does not let anything through.
func TestSpecRejects(t *testing.T) {
	t.Parallel()
	s := loadSpec(t)
	const coll = "/collections/c"
	for _, tt := range []struct {
		name, method, path, query, body string
		valid                           bool
	}{
		{"create", "PUT", coll, "", `{"vectors":{"size":4,"distance":"Cosine"},"metadata":{"ossa_model":"m"}}`, true},
		{"create, unknown distance", "PUT", coll, "", `{"vectors":{"size":4,"distance":"cosine"}}`, false},
		{"create, size 0", "PUT", coll, "", `{"vectors":{"size":0,"distance":"Cosine"}}`, false},
		{"create, metadata not an object", "PUT", coll, "", `{"vectors":{"size":4,"distance":"Cosine"},"metadata":"m"}`, false},
		{"create, metadata null", "PUT", coll, "", `{"vectors":{"size":4,"distance":"Cosine"},"metadata":null}`, true},
		{"upsert", "PUT", coll + "/points", "wait=true", `{"points":[{"id":"0b4ad2d4-2f2d-5b8a-9c9d-0c7f1a6e2b11","vector":[1,0],"payload":{"a":1}}]}`, true},
		{"upsert, id not a uuid", "PUT", coll + "/points", "", `{"points":[{"id":"agent-1","vector":[1,0]}]}`, false},
		{"upsert, negative id", "PUT", coll + "/points", "", `{"points":[{"id":-1,"vector":[1,0]}]}`, false},
		{"upsert, no vector", "PUT", coll + "/points", "", `{"points":[{"id":1}]}`, false},
		{"upsert, wait not a boolean", "PUT", coll + "/points", "wait=yes", `{"points":[{"id":1,"vector":[1]}]}`, false},
		{"upsert, unknown parameter", "PUT", coll + "/points", "sync=true", `{"points":[{"id":1,"vector":[1]}]}`, false},
		{"query", "POST", coll + "/points/query", "", `{"query":[1,0],"limit":3,"filter":{"must":[{"key":"k","match":{"any":["a","b"]}}]},"params":{"exact":true},"with_payload":["agent_id"]}`, true},
		{"query, limit 0", "POST", coll + "/points/query", "", `{"query":[1,0],"limit":0}`, false},
		{"query, filter with an unknown clause", "POST", coll + "/points/query", "", `{"query":[1,0],"filter":{"all":[]}}`, false},
		{"query, match any with repeats", "POST", coll + "/points/query", "", `{"query":[1,0],"filter":{"must":[{"key":"k","match":{"any":["a","a"]}}]}}`, false},
		{"query, exact not a boolean", "POST", coll + "/points/query", "", `{"query":[1,0],"params":{"exact":"yes"}}`, false},
		{"count", "POST", coll + "/points/count", "", `{"exact":true}`, true},
		{"count, exact null", "POST", coll + "/points/count", "", `{"exact":null}`, false},
		{"delete", "POST", coll + "/points/delete", "wait=true", `{"points":[1,"0b4ad2d4-2f2d-5b8a-9c9d-0c7f1a6e2b11"]}`, true},
		{"delete, ids as one string", "POST", coll + "/points/delete", "", `{"points":"1"}`, false},
		{"field index", "PUT", coll + "/index", "wait=true", `{"field_name":"namespace","field_schema":"keyword"}`, true},
		{"field index, unknown type", "PUT", coll + "/index", "", `{"field_name":"namespace","field_schema":"word"}`, false},
		{"no such operation", "POST", coll + "/nowhere", "", `{}`, false},
		{"a body where none is taken", "GET", coll, "", `{}`, false},
	} {
		_, err := s.checkRequest(tt.method, tt.path, mustQuery(t, tt.query), "application/json", []byte(tt.body))
		if (err == nil) != tt.valid {
			t.Errorf("request %s: error %v, want valid=%v", tt.name, err, tt.valid)
		}
	}
	for _, tt := range []struct {
		name, method, path string
		status             int
		body               string
		valid              bool
	}{
		{"query", "POST", coll + "/points/query", 200, `{"result":{"points":[{"id":1,"version":0,"score":0.5,"payload":{"agent_id":"a"}}]},"status":"ok","time":0.1}`, true},
		{"query, point without version", "POST", coll + "/points/query", 200, `{"result":{"points":[{"id":1,"score":0.5}]},"status":"ok","time":0.1}`, false},
		{"query, score a string", "POST", coll + "/points/query", 200, `{"result":{"points":[{"id":1,"version":0,"score":"0.5"}]},"status":"ok"}`, false},
		{"query, usage not an object", "POST", coll + "/points/query", 200, `{"result":{"points":[]},"usage":7}`, false},
		{"query, usage null", "POST", coll + "/points/query", 200, `{"result":{"points":[]},"usage":null}`, true},
		{"count", "POST", coll + "/points/count", 200, `{"result":{"count":3},"status":"ok","time":0}`, true},
		{"count, negative", "POST", coll + "/points/count", 200, `{"result":{"count":-3},"status":"ok","time":0}`, false},
		{"upsert, unknown status", "PUT", coll + "/points", 200, `{"result":{"operation_id":1,"status":"done"},"status":"ok","time":0}`, false},
		{"error", "PUT", coll + "/points", 400, `{"status":{"error":"Wrong input"},"time":0}`, true},
		{"error, message a number", "PUT", coll + "/points", 404, `{"status":{"error":7},"time":0}`, false},
		{"collection info, no config", "GET", coll, 200, `{"result":{"status":"green","optimizer_status":"ok","segments_count":1,"payload_schema":{}},"status":"ok","time":0}`, false},
	} {
		err := s.checkResponse(tt.method, tt.path, tt.status, "application/json", []byte(tt.body))
		if (err == nil) != tt.valid {
			t.Errorf("answer %s: error %v, want valid=%v", tt.name, err, tt.valid)
		}
	}
}

func mustQuery(t *testing.T, q string) url.Values {
	v, err := url.ParseQuery(q)
	if err != nil {
		t.Fatal(err)
	}
	return v
}
