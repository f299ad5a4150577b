package http

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strings"

	"github.com/ossa-platform/platform"
	"github.com/ossa-platform/platform/manifest"
	yaml "go.yaml.in/yaml/v3"
)

// yamlTypes are the media types a YAML manifest may be sent as.
var yamlTypes = []string{"application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml"}

func isYAML(r *http.Request) bool {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return isYAMLType(mt)
}

func isYAMLType(mediaType string) bool { return contains(yamlTypes, mediaType) }

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// decodeManifest reads one OSSA manifest from a body: YAML as it is, or
// JSON, either the manifest itself or wrapped as {"manifest": {...}}. It
// returns the parsed document and the source kept verbatim.
func decodeManifest(body []byte, yamlBody bool) (*manifest.Document, *platform.ManifestSource, error) {
	src := &platform.ManifestSource{Format: "yaml", Body: body}
	if !yamlBody {
		src.Format = "json"
		var wrapper map[string]json.RawMessage
		if err := strictUnmarshal(body, &wrapper); err != nil {
			return nil, nil, err
		}
		if inner, ok := wrapper["manifest"]; ok {
			if len(wrapper) != 1 {
				return nil, nil, badBody("", "a body with \"manifest\" must have no other member")
			}
			src.Body = bytes.TrimSpace(inner)
		}
	}
	docs, err := manifest.Parse("manifest", src.Body)
	var pe *manifest.ParseError
	switch {
	case errors.As(err, &pe):
		e := &platform.Error{Code: platform.EBADREQUEST, Message: "the manifest cannot be read: " + pe.Msg}
		if pe.Pos.Line > 0 {
			e.Fields = []platform.FieldError{{Field: "body", Message: pe.Msg, Line: pe.Pos.Line, Column: pe.Pos.Column}}
		}
		return nil, nil, e
	case err != nil:
		return nil, nil, badBody("", "the manifest cannot be read: %v", err)
	case len(docs) != 1:
		return nil, nil, badBody("", "the body must hold exactly one manifest document, not %d", len(docs))
	}
	return docs[0], src, nil
}

// validManifest validates doc, requires its kind, and turns its errors into
// one EINVALID error whose fields carry pointer, line and message.
func validManifest(doc *manifest.Document, kind string) (*manifest.Result, error) {
	r := manifest.Validate(doc)
	var p platform.Problems
	if doc.Kind() != kind {
		d := doc.Root.At("/kind")
		p = append(p, platform.FieldError{Field: "/kind", Message: fmt.Sprintf("must be %s here, not %q", kind, doc.Kind()),
			Line: d.Pos.Line, Column: d.Pos.Column})
	}
	for _, d := range r.Diagnostics {
		if d.Severity == manifest.SeverityError {
			msg := d.Message
			if len(d.Allowed) > 0 {
				msg += "; allowed: " + strings.Join(d.Allowed, ", ")
			}
			p = append(p, platform.FieldError{Field: d.Pointer, Message: msg, Line: d.Pos.Line, Column: d.Pos.Column})
		}
	}
	return r, p.Err(fmt.Sprintf("the %s manifest is not valid", kind))
}

// ValidationReport is the body of POST /api/v1/validate.
type ValidationReport struct {
	Valid       bool                  `json:"valid"`
	APIVersion  string                `json:"api_version"`
	Kind        string                `json:"kind"`
	Schema      string                `json:"schema,omitempty"`
	Diagnostics []manifest.Diagnostic `json:"diagnostics"`
}

func (s *Server) registerManifestRoutes() {
	s.handle("POST /api/v1/validate", anyScope, s.handleValidate)
	s.handle("GET /api/v1/agents/{ref}/manifest", platform.ScopeAgentsRead, s.handleAgentManifest)
}

// handleValidate handles "POST /api/v1/validate": it validates a manifest
// (YAML, JSON, or JSON {"manifest": ...}) and stores nothing. The answer
// is 200 with the report, valid or not; an unreadable body is a 400.
func (s *Server) handleValidate(w http.ResponseWriter, r *http.Request) error {
	body, err := s.readBody(w, r, append([]string{"application/json"}, yamlTypes...)...)
	if err != nil {
		return err
	}
	doc, _, err := decodeManifest(body, isYAML(r))
	if err != nil {
		return err
	}
	res := manifest.Validate(doc)
	rep := ValidationReport{Valid: res.Valid(), APIVersion: doc.APIVersion(), Kind: doc.Kind(), Schema: res.Schema,
		Diagnostics: res.Diagnostics}
	if rep.Diagnostics == nil {
		rep.Diagnostics = []manifest.Diagnostic{}
	}
	return writeJSON(w, http.StatusOK, rep)
}

// handleAgentManifest handles "GET /api/v1/agents/{ref}/manifest": the
// manifest the agent was registered from, verbatim in its own format, or
// converted when Accept asks for the other one.
func (s *Server) handleAgentManifest(w http.ResponseWriter, r *http.Request) error {
	a, err := s.Agents.FindAgent(r.Context(), namespace(r), r.PathValue("ref"))
	if err != nil {
		return err
	}
	if a.Manifest == nil {
		return platform.Errorf(platform.ENOTFOUND, "agent %q was registered without a manifest", a.Name)
	}
	return writeManifest(w, r, a.Manifest)
}

// writeManifest writes a stored manifest in the format Accept prefers:
// verbatim when it matches the stored one.
func writeManifest(w http.ResponseWriter, r *http.Request, src *platform.ManifestSource) error {
	want := src.Format
	accept := r.Header.Get("Accept")
	wantsJSON, wantsYAML := strings.Contains(accept, "json"), strings.Contains(accept, "yaml")
	switch {
	case wantsJSON && !wantsYAML:
		want = "json"
	case wantsYAML && !wantsJSON:
		want = "yaml"
	}
	body := src.Body
	if want != src.Format {
		docs, err := manifest.Parse("manifest", src.Body)
		if err != nil {
			return fmt.Errorf("stored manifest cannot be re-read: %w", err)
		}
		if len(docs) != 1 {
			return fmt.Errorf("stored manifest holds %d documents, not one", len(docs))
		}
		if want == "json" {
			body, err = docs[0].Root.MarshalJSON()
		} else {
			body, err = yaml.Marshal(yamlNode(docs[0].Root))
		}
		if err != nil {
			return err
		}
	}
	ct := "application/json"
	if want == "yaml" {
		ct = "application/yaml"
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("Vary", "Accept")
	_, err := w.Write(body)
	return err
}

// yamlNode turns a manifest node into a YAML node, members in order.
func yamlNode(n *manifest.Node) *yaml.Node {
	switch n.Kind {
	case manifest.Object:
		y := &yaml.Node{Kind: yaml.MappingNode}
		for _, f := range n.Fields {
			y.Content = append(y.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: f.Key}, yamlNode(f.Value))
		}
		return y
	case manifest.Array:
		y := &yaml.Node{Kind: yaml.SequenceNode}
		for _, it := range n.Items {
			y.Content = append(y.Content, yamlNode(it))
		}
		return y
	case manifest.String:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: n.Text}
	case manifest.Number:
		tag := "!!int"
		if strings.ContainsAny(n.Text, ".eE") {
			tag = "!!float"
		}
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: tag, Value: n.Text}
	case manifest.Bool:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: n.Text}
	}
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Value: "null"}
}
