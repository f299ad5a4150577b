package eval

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/ossa-platform/platform"
	"github.com/ossa-platform/platform/manifest"
)

// Set is an evaluation set: the agents a search is run over and the
// queries it is scored on.
type Set struct {
	Agents  []*platform.Agent
	Queries []Query
}

// Query is one labelled query.
type Query struct {
	// Text is the sentence, as a user would type it.
	Text string `json:"query"`
	// Expect is the name of the agent that should come first.
	Expect string `json:"expect"`
	// Also names agents that are acceptable first answers too; they count
	// for AcceptableAt1 only.
	Also []string `json:"also,omitempty"`
	// Kind says how the query was written: KindLexical, KindParaphrase or
	// KindHard.
	Kind string `json:"kind,omitempty"`
}

// Kinds of queries.
const (
	// KindLexical shares its key words with the agent's description or
	// capabilities.
	KindLexical = "lexical"
	// KindParaphrase says the same in other words.
	KindParaphrase = "paraphrase"
	// KindHard is a query other agents share more words with than the
	// expected one, or whose need is only implied.
	KindHard = "hard"
)

// Kinds lists the kinds a query may have, in the order reports show them.
var Kinds = []string{KindLexical, KindParaphrase, KindHard}

// Load reads the set of a directory: the Agent manifests of dir/agents
// (*.ossa.yaml) and the queries of dir/queries.yaml, and checks that every
// query names agents of the set.
func Load(dir string) (*Set, error) {
	agents, err := LoadAgents(filepath.Join(dir, "agents"))
	if err != nil {
		return nil, err
	}
	queries, err := LoadQueries(filepath.Join(dir, "queries.yaml"))
	if err != nil {
		return nil, err
	}
	s := &Set{Agents: agents, Queries: queries}
	if err := s.Check(); err != nil {
		return nil, err
	}
	return s, nil
}

// LoadAgents reads every *.ossa.yaml file of dir as the platform registers
// a manifest: each document must be a valid Agent manifest, and becomes
// the registry entry manifest.RegistryAgent derives, keeping the file as
// its manifest. The agents come in the order of their file names.
func LoadAgents(dir string) ([]*platform.Agent, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.ossa.yaml"))
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, platform.Errorf(platform.EINVALID, "%s holds no *.ossa.yaml file", dir)
	}
	var agents []*platform.Agent
	names := map[string]string{}
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			return nil, err
		}
		docs, err := manifest.Parse(file, data)
		if err != nil {
			return nil, err
		}
		for _, doc := range docs {
			a, err := registryAgent(doc)
			if err != nil {
				return nil, err
			}
			if other, ok := names[a.Name]; ok {
				return nil, platform.Errorf(platform.EINVALID, "%s: agent %q is already defined in %s", file, a.Name, other)
			}
			names[a.Name] = file
			a.Manifest = &platform.ManifestSource{Format: "yaml", Body: data}
			agents = append(agents, a)
		}
	}
	return agents, nil
}

// registryAgent validates an Agent manifest and derives its registry entry,
// or says, as ossa validate does, what is wrong with it.
func registryAgent(doc *manifest.Document) (*platform.Agent, error) {
	if doc.Kind() != "Agent" {
		return nil, platform.Errorf(platform.EINVALID, "%s: document %d is a %q, not an Agent", doc.File, doc.Index, doc.Kind())
	}
	var problems []string
	for _, d := range manifest.Validate(doc).Diagnostics {
		if d.Severity == manifest.SeverityError {
			problems = append(problems, d.Format(doc.File))
		}
	}
	if len(problems) > 0 {
		return nil, platform.Errorf(platform.EINVALID, "%s", strings.Join(problems, "\n"))
	}
	a := manifest.RegistryAgent(doc)
	if err := a.Validate(); err != nil {
		return nil, fmt.Errorf("%s: the agent cannot be registered: %w", doc.File, err)
	}
	return a, nil
}

// LoadQueries reads a queries file: a YAML (or JSON) document whose
// queries member lists Query objects. Every query needs a text and an
// expected agent; an unknown member is an error.
func LoadQueries(file string) ([]Query, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	docs, err := manifest.Parse(file, data)
	if err != nil {
		return nil, err
	}
	if len(docs) != 1 {
		return nil, platform.Errorf(platform.EINVALID, "%s: want one document, found %d", file, len(docs))
	}
	if problems := docs[0].Problems; len(problems) > 0 {
		return nil, platform.Errorf(platform.EINVALID, "%s", problems[0].Format(file))
	}
	body, err := json.Marshal(docs[0].Root)
	if err != nil {
		return nil, err
	}
	var f struct {
		Queries []Query `json:"queries"`
	}
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, platform.Errorf(platform.EINVALID, "%s: %v", file, err)
	}
	list := docs[0].Root.Get("queries")
	for i, q := range f.Queries {
		at := file
		if list != nil && i < len(list.Items) {
			at = fmt.Sprintf("%s:%s", file, list.Items[i].Pos)
		}
		switch {
		case strings.TrimSpace(q.Text) == "":
			return nil, platform.Errorf(platform.EINVALID, "%s: query %d has no text (query)", at, i)
		case q.Expect == "":
			return nil, platform.Errorf(platform.EINVALID, "%s: query %q names no expected agent (expect)", at, q.Text)
		case q.Kind != "" && !slices.Contains(Kinds, q.Kind):
			return nil, platform.Errorf(platform.EINVALID, "%s: query %q has kind %q; allowed: %s", at, q.Text, q.Kind, strings.Join(Kinds, ", "))
		case slices.Contains(q.Also, q.Expect):
			return nil, platform.Errorf(platform.EINVALID, "%s: query %q lists its expected agent among the others (also)", at, q.Text)
		}
	}
	if len(f.Queries) == 0 {
		return nil, platform.Errorf(platform.EINVALID, "%s: no queries", file)
	}
	return f.Queries, nil
}

// Check reports the first query that names an agent the set does not
// hold, or that repeats another query.
func (s *Set) Check() error {
	names := make(map[string]bool, len(s.Agents))
	for _, a := range s.Agents {
		names[a.Name] = true
	}
	seen := map[string]bool{}
	for _, q := range s.Queries {
		key := strings.ToLower(strings.TrimSpace(q.Text))
		if seen[key] {
			return platform.Errorf(platform.EINVALID, "query %q appears twice", q.Text)
		}
		seen[key] = true
		for _, name := range append([]string{q.Expect}, q.Also...) {
			if !names[name] {
				return platform.Errorf(platform.EINVALID, "query %q names agent %q, which the set does not hold", q.Text, name)
			}
		}
	}
	return nil
}
