// Package openapicheck checks HTTP responses against an OpenAPI 3.1
// document: that the operation documents the status and the media type it
// answered with, and that a JSON body is valid against the schema the
// document gives it. The gateway's tests run every response through it, so
// the served document cannot drift from what the handlers write.
package openapicheck

import (
	"bytes"
	"encoding/json"
	"fmt"
	"mime"
	"strconv"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// Doc is an OpenAPI document ready to check responses with.
type Doc struct {
	raw       map[string]any
	templates []template
	compiler  *jsonschema.Compiler

	mu      sync.Mutex
	schemas map[string]*jsonschema.Schema
}

// template is one path of the document, split into its segments; a
// segment "{x}" matches any one segment.
type template struct {
	path     string
	segments []string
}

// resource is the URL the document is known by to the schema compiler.
const resource = "openapi.json"

// Load reads an OpenAPI 3.1 document (JSON).
func Load(document []byte) (*Doc, error) {
	var raw map[string]any
	if err := json.Unmarshal(document, &raw); err != nil {
		return nil, fmt.Errorf("openapi document: %w", err)
	}
	paths, _ := raw["paths"].(map[string]any)
	if len(paths) == 0 {
		return nil, fmt.Errorf("openapi document has no paths")
	}
	d := &Doc{raw: raw, compiler: jsonschema.NewCompiler(), schemas: map[string]*jsonschema.Schema{}}
	for p := range paths {
		d.templates = append(d.templates, template{path: p, segments: strings.Split(p, "/")})
	}
	// OpenAPI 3.1 schemas are JSON Schema 2020-12.
	d.compiler.DefaultDraft(jsonschema.Draft2020)
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(document))
	if err != nil {
		return nil, err
	}
	if err := d.compiler.AddResource(resource, v); err != nil {
		return nil, err
	}
	return d, nil
}

// Operation returns the document's path template that path matches and
// whether it has an operation for method. A literal segment wins over a
// template parameter, as routers match.
func (d *Doc) Operation(method, path string) (template string, ok bool) {
	segs := strings.Split(path, "/")
	best, bestLiterals := "", -1
	for _, t := range d.templates {
		if len(t.segments) != len(segs) {
			continue
		}
		literals, match := 0, true
		for i, s := range t.segments {
			switch {
			case strings.HasPrefix(s, "{") && strings.HasSuffix(s, "}"):
			case s == segs[i]:
				literals++
			default:
				match = false
			}
			if !match {
				break
			}
		}
		if match && literals > bestLiterals {
			best, bestLiterals = t.path, literals
		}
	}
	if best == "" {
		return "", false
	}
	// Methods are case-sensitive: "get" is not GET.
	if method != strings.ToUpper(method) {
		return best, false
	}
	_, ok = d.lookup("paths", best, strings.ToLower(method)).(map[string]any)
	return best, ok
}

// Check reports what is wrong with a response of status, Content-Type
// contentType and body to a request method path, or nil. A path no
// operation documents (a 404 or 405 of the router) is checked only to be
// a problem, if it has a body.
func (d *Doc) Check(method, path string, status int, contentType string, body []byte) error {
	mt, _, _ := mime.ParseMediaType(contentType)
	tmpl, ok := d.Operation(method, path)
	if !ok {
		if status < 400 {
			return fmt.Errorf("%s %s answered %d but the document has no such operation", method, path, status)
		}
		if len(bytes.TrimSpace(body)) == 0 {
			return nil
		}
		return d.validate("#/components/schemas/Problem", body, fmt.Sprintf("the %d of %s %s", status, method, path))
	}
	ptr := []string{"paths", tmpl, strings.ToLower(method), "responses"}
	responses, _ := d.lookup(ptr...).(map[string]any)
	key := strconv.Itoa(status)
	if _, ok := responses[key]; !ok {
		key = key[:1] + "XX"
		if _, ok := responses[key]; !ok {
			key = "default"
		}
	}
	if _, ok := responses[key]; !ok {
		return fmt.Errorf("%s %s answered %d, which the document does not list for the operation", method, tmpl, status)
	}
	ptr = append(ptr, key)
	ptr = d.deref(ptr)
	content, _ := d.lookup(append(ptr, "content")...).(map[string]any)
	if len(bytes.TrimSpace(body)) == 0 && status != 200 {
		return nil
	}
	if len(content) == 0 {
		if len(bytes.TrimSpace(body)) == 0 || status == 101 {
			return nil
		}
		return fmt.Errorf("%s %s answered %d with a %q body, but the document gives that response no content", method, tmpl, status, mt)
	}
	// The document's media types may carry parameters
	// ("application/vnd.oai.openapi+json;version=3.1"): compare types.
	var listed string
	for k := range content {
		if t, _, err := mime.ParseMediaType(k); err == nil && t == mt {
			listed = k
		}
	}
	media, ok := content[listed].(map[string]any)
	if !ok {
		return fmt.Errorf("%s %s answered %d as %q; the document lists %s", method, tmpl, status, mt, keys(content))
	}
	if _, ok := media["schema"]; !ok || !(mt == "application/json" || strings.HasSuffix(mt, "+json")) {
		return nil
	}
	return d.validate(pointer(append(ptr, "content", listed, "schema")), body, fmt.Sprintf("the %d of %s %s", status, method, tmpl))
}

// deref follows the $ref of the object at ptr, if it has one, to the
// pointer of what it names.
func (d *Doc) deref(ptr []string) []string {
	obj, _ := d.lookup(ptr...).(map[string]any)
	ref, _ := obj["$ref"].(string)
	if !strings.HasPrefix(ref, "#/") {
		return ptr
	}
	var out []string
	for _, t := range strings.Split(ref[2:], "/") {
		out = append(out, strings.NewReplacer("~1", "/", "~0", "~").Replace(t))
	}
	return out
}

// validate checks a JSON body against the schema at fragment.
func (d *Doc) validate(fragment string, body []byte, what string) error {
	s, err := d.compile(fragment)
	if err != nil {
		return err
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("%s is not JSON: %w", what, err)
	}
	if err := s.Validate(v); err != nil {
		return fmt.Errorf("%s does not match its schema in the document: %w\nbody: %s", what, err, body)
	}
	return nil
}

// compile compiles the schema at fragment once.
func (d *Doc) compile(fragment string) (*jsonschema.Schema, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if s, ok := d.schemas[fragment]; ok {
		return s, nil
	}
	s, err := d.compiler.Compile(resource + fragment)
	if err != nil {
		return nil, fmt.Errorf("compile %s: %w", fragment, err)
	}
	d.schemas[fragment] = s
	return s, nil
}

func (d *Doc) lookup(ptr ...string) any {
	var cur any = d.raw
	for _, p := range ptr {
		switch n := cur.(type) {
		case map[string]any:
			cur = n[p]
		case []any:
			i, err := strconv.Atoi(p)
			if err != nil || i < 0 || i >= len(n) {
				return nil
			}
			cur = n[i]
		default:
			return nil
		}
	}
	return cur
}

// pointer is the URL fragment of a JSON pointer.
func pointer(tokens []string) string {
	var b strings.Builder
	b.WriteString("#")
	for _, t := range tokens {
		b.WriteString("/")
		b.WriteString(strings.NewReplacer("~", "~0", "/", "~1").Replace(t))
	}
	return b.String()
}

func keys(m map[string]any) string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, strconv.Quote(k))
	}
	return strings.Join(out, ", ")
}

// Lint reports what is wrong in the document itself: a $ref that names
// nothing, a schema that does not compile, an example its schema refuses.
func (d *Doc) Lint() []error {
	var errs []error
	var walk func(v any, ptr []string)
	walk = func(v any, ptr []string) {
		switch n := v.(type) {
		case map[string]any:
			if ref, ok := n["$ref"].(string); ok && strings.HasPrefix(ref, "#/") {
				if d.lookup(d.deref(ptr)...) == nil {
					errs = append(errs, fmt.Errorf("%s: $ref %s names nothing", pointer(ptr), ref))
				}
			}
			// A media type, parameter or header object: its example must
			// match its schema.
			if _, hasSchema := n["schema"]; hasSchema {
				if ex, ok := n["example"]; ok {
					b, _ := json.Marshal(ex)
					if err := d.validate(pointer(append(ptr, "schema")), b, "the example at "+pointer(ptr)); err != nil {
						errs = append(errs, err)
					}
				}
			}
			for k, child := range n {
				if k == "example" || k == "examples" {
					continue
				}
				walk(child, append(append([]string(nil), ptr...), k))
			}
		case []any:
			for i, child := range n {
				walk(child, append(append([]string(nil), ptr...), strconv.Itoa(i)))
			}
		}
	}
	walk(d.raw, nil)
	if schemas, ok := d.lookup("components", "schemas").(map[string]any); ok {
		for name := range schemas {
			if _, err := d.compile(pointer([]string{"components", "schemas", name})); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errs
}
