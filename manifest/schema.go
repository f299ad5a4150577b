package manifest

import (
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	yaml "go.yaml.in/yaml/v3"
	"golang.org/x/text/language"
	"golang.org/x/text/message"

	"github.com/ossa-platform/platform"
)

// schemaFS holds the platform's own JSON Schema documents (draft-07,
// written in YAML), one per OSSA release, plus shared parts they $ref.
//
//go:embed schemas
var schemaFS embed.FS

// schemaBase is the URL the schema documents are known by; relative $refs
// between them resolve against it.
const schemaBase = "https://schemas.ossa-platform.dev/"

// schemaRule picks the schema that judges a document: the first rule whose
// apiVersion prefix (or exact value) and kind match.
type schemaRule struct {
	apiVersion string // exact value, or a prefix when it ends in '*'
	kinds      []string
	schema     string // file under schemas/
}

// schemaRules follow the OSSA project's own resolver and release history:
// each apiVersion is judged by the schema its release shipped.
var schemaRules = []schemaRule{
	{"ossa/v0.5*", []string{"Agent", "Task", "Workflow", "Flow"}, "v0.5.yaml"},
	{"ossa/v0.4.4", []string{"Validator"}, "v0.4-validator.yaml"},
	{"ossa/v0.4*", []string{"Agent", "Task", "Workflow", "Flow"}, "v0.4.yaml"},
	{"ossa/v1", []string{"Skill"}, "v1-skill.yaml"},
	{"ossa/v0.3.6*", nil, "v0.3.6.yaml"},
	{"ossa/v0.3.5*", nil, "v0.3.5.yaml"},
	{"ossa/v0.3.4*", nil, "v0.3.4.yaml"},
	{"ossa/v0.3", nil, "v0.3.4.yaml"},
	{"ossa/v0.3.3*", nil, "v0.3.3.yaml"},
	{"ossa/v0.3.2*", nil, "v0.3.2.yaml"},
	{"ossa/v0.3.1*", nil, "v0.3.1.yaml"},
	{"ossa/v0.3.0", []string{"AgentTest"}, "agent-test.yaml"},
	{"ossa/v0.3.0*", nil, "v0.3.0.yaml"},
	{"ossa/v0.2.9*", nil, "v0.2.9.yaml"},
	{"@bluefly/ossa/v0.1.9", nil, "v0.1.9.yaml"},
	{"ossa.io/v0.1.9-alpha.1", nil, "v0.1.9.yaml"},
	{"@bluefly/open-standards-scalable-agents/v0.1.9", nil, "v0.1.9.yaml"},
}

// SupportedAPIVersions lists the apiVersions the platform reads.
func SupportedAPIVersions() []string {
	var out []string
	for _, r := range schemaRules {
		if !contains(out, r.apiVersion) {
			out = append(out, r.apiVersion)
		}
	}
	return out
}

// schemaFor returns the schema file for a document, or "" when none.
func schemaFor(apiVersion, kind string) string {
	for _, r := range schemaRules {
		match := apiVersion == r.apiVersion
		if p, ok := strings.CutSuffix(r.apiVersion, "*"); ok {
			match = strings.HasPrefix(apiVersion, p)
		}
		if match && (r.kinds == nil || contains(r.kinds, kind)) {
			return r.schema
		}
	}
	return ""
}

var (
	compileOnce sync.Once
	compiler    *jsonschema.Compiler
	compileErr  error
	compiledMu  sync.Mutex
	compiled    = map[string]*jsonschema.Schema{}
)

// schema compiles (once) and returns the named schema document.
func schema(name string) (*jsonschema.Schema, error) {
	compileOnce.Do(func() { compiler, compileErr = newCompiler() })
	if compileErr != nil {
		return nil, compileErr
	}
	compiledMu.Lock()
	defer compiledMu.Unlock()
	if s, ok := compiled[name]; ok {
		return s, nil
	}
	s, err := compiler.Compile(schemaBase + name)
	if err != nil {
		return nil, fmt.Errorf("compile schema %s: %w", name, err)
	}
	compiled[name] = s
	return s, nil
}

// newCompiler loads every embedded schema document as a draft-07 resource
// with format assertions on, as the official tooling validates.
func newCompiler() (*jsonschema.Compiler, error) {
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft7)
	c.AssertFormat()
	err := fs.WalkDir(schemaFS, "schemas", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || (path.Ext(p) != ".yaml" && path.Ext(p) != ".json") {
			return err
		}
		data, err := schemaFS.ReadFile(p)
		if err != nil {
			return err
		}
		var doc any
		if err := yaml.Unmarshal(data, &doc); err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		// Round-trip through JSON so the compiler sees JSON types only.
		b, err := json.Marshal(doc)
		if err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		v, err := jsonschema.UnmarshalJSON(strings.NewReader(string(b)))
		if err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		return c.AddResource(schemaBase+strings.TrimPrefix(p, "schemas/"), v)
	})
	return c, err
}

var printer = message.NewPrinter(language.English)

// schemaDiagnostics turns a validation error into one diagnostic per leaf
// failure, located in the document.
func schemaDiagnostics(root *Node, verr *jsonschema.ValidationError) []Diagnostic {
	var out []Diagnostic
	var walk func(e *jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(e.Causes) > 0 {
			for _, c := range e.Causes {
				walk(c)
			}
			return
		}
		ptr := pointer(e.InstanceLocation)
		d := Diagnostic{Severity: SeverityError, Code: "schema", Pointer: ptr, Pos: root.At(ptr).Pos,
			Message: e.ErrorKind.LocalizedString(printer)}
		if en, ok := e.ErrorKind.(*kind.Enum); ok {
			for _, v := range en.Want {
				b, _ := json.Marshal(v)
				d.Allowed = append(d.Allowed, strings.Trim(string(b), `"`))
			}
		}
		if c, ok := e.ErrorKind.(*kind.Const); ok {
			b, _ := json.Marshal(c.Want)
			d.Allowed = []string{strings.Trim(string(b), `"`)}
		}
		if t, ok := e.ErrorKind.(*kind.Type); ok && t.Got == "string" && contains(t.Want, "object") && strings.HasSuffix(ptr, "/on_error") {
			// A plain string is what ossa/v0.5, whose schema leaves spec
			// open, and the engine take; say how this release writes it.
			d.Message += fmt.Sprintf("; %s writes a step's on_error as an object, such as {action: continue} (a plain string is accepted from ossa/v0.5)",
				root.Get("apiVersion").Str())
		}
		out = append(out, d)
	}
	walk(verr)
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Pos.Line != out[j].Pos.Line {
			return out[i].Pos.Line < out[j].Pos.Line
		}
		return out[i].Pointer < out[j].Pointer
	})
	return dedupe(out)
}

func dedupe(ds []Diagnostic) []Diagnostic {
	seen := map[string]bool{}
	out := ds[:0]
	for _, d := range ds {
		k := d.Pointer + "\x00" + d.Message
		if !seen[k] {
			seen[k] = true
			out = append(out, d)
		}
	}
	return out
}

func pointer(tokens []string) string {
	if len(tokens) == 0 {
		return ""
	}
	var b strings.Builder
	for _, t := range tokens {
		b.WriteByte('/')
		b.WriteString(platform.EscapePointer(t))
	}
	return b.String()
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
