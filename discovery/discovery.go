// Package discovery finds agents from a sentence: hybrid search that fuses
// the nearest neighbours of the sentence's embedding in a vector index with
// the full-text matches of its words, by reciprocal rank fusion, and keeps
// the vector index in step with the registry (Indexer). docs/discovery.md
// describes it.
package discovery

import (
	"context"
	"crypto/sha256"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync"

	"go.yaml.in/yaml/v3"

	"github.com/ossa-platform/platform"
)

// rrfK is reciprocal rank fusion's constant (Cormack et al., 2009): a hit
// at rank r of a ranking scores 1/(rrfK+r).
const rrfK = 60

// Service is the platform.Discoverer over an agent store: its full-text
// index (Text) and a vector index of the agents' embeddings (Index, by
// Embedder). Without an Index, or while the embedder or the index fail, it
// ranks by words alone and says so in the log.
type Service struct {
	Agents   platform.AgentStore
	Text     platform.AgentTextSearch
	Embedder platform.Embedder
	Index    platform.VectorIndex
	Logger   *slog.Logger
}

var _ platform.Discoverer = (*Service)(nil)

// candidates is how many hits each ranking contributes: enough that an
// agent ranked low by one and high by the other is fused.
func candidates(limit int) int { return min(max(4*limit, 50), platform.MaxVectorLimit) }

// Discover returns the agents that best fit q.Text, best first, available
// ones (active and not unhealthy) before the others.
func (s *Service) Discover(ctx context.Context, q platform.DiscoveryQuery) ([]platform.Discovered, error) {
	if err := q.Validate(); err != nil {
		return nil, err
	}
	type fused struct {
		id, namespace string
		score         float64
		similarity    *float32
		vrank, trank  int
	}
	byID := map[string]*fused{}
	get := func(id, ns string) *fused {
		f := byID[id]
		if f == nil {
			f = &fused{id: id, namespace: ns}
			byID[id] = f
		}
		return f
	}
	terms := platform.SearchTerms(q.Text)
	n := candidates(q.Limit)
	if s.Text != nil && len(terms) > 0 {
		hits, err := s.Text.SearchAgentText(ctx, platform.TextQuery{Terms: terms, Namespaces: q.Namespaces, Type: q.Type,
			Status: q.Status, Capability: q.Capability, Labels: q.Labels, Limit: n})
		if err != nil {
			return nil, err
		}
		for i, h := range hits {
			f := get(h.ID, h.Namespace)
			f.trank = i + 1
			f.score += 1 / float64(rrfK+i+1)
		}
	}
	for i, h := range s.nearest(ctx, q, n) {
		f := get(h.ID, h.Namespace)
		sim := h.Score
		f.vrank, f.similarity = i+1, &sim
		f.score += 1 / float64(rrfK+i+1)
	}
	order := make([]*fused, 0, len(byID))
	for _, f := range byID {
		order = append(order, f)
	}
	sort.Slice(order, func(i, j int) bool {
		if order[i].score != order[j].score {
			return order[i].score > order[j].score
		}
		return order[i].id < order[j].id
	})
	// Read the agents in that order until Limit available ones are found:
	// the indexes may lag a change, so the agent's own record decides
	// filters and availability.
	var available, others []platform.Discovered
	for _, f := range order {
		if len(available) == q.Limit {
			break
		}
		a, err := s.Agents.FindAgent(ctx, f.namespace, f.id)
		if platform.ErrorCode(err) == platform.ENOTFOUND {
			continue // deleted since it was indexed
		}
		if err != nil {
			return nil, err
		}
		if !matches(&q, a) {
			continue
		}
		d := platform.Discovered{Agent: a, Score: f.score, Similarity: f.similarity, VectorRank: f.vrank, TextRank: f.trank,
			Matched: Matched(terms, a), Available: Available(a)}
		if d.Available {
			available = append(available, d)
		} else if len(others) < q.Limit {
			others = append(others, d)
		}
	}
	out := append(available, others...)
	return out[:min(len(out), q.Limit)], nil
}

// nearest is the vector ranking of q, or none when there is no index or
// it cannot answer now (logged; the words still rank).
func (s *Service) nearest(ctx context.Context, q platform.DiscoveryQuery, n int) []platform.VectorHit {
	if s.Index == nil || s.Embedder == nil {
		return nil
	}
	vecs, err := s.Embedder.Embed(ctx, []string{q.Text})
	if err == nil && len(vecs) != 1 {
		err = platform.Errorf(platform.EUNAVAILABLE, "the embedder returned %d vectors for one text", len(vecs))
	}
	var hits []platform.VectorHit
	if err == nil {
		hits, err = s.Index.Search(ctx, platform.VectorQuery{Vector: vecs[0], Limit: n, Namespaces: q.Namespaces,
			Type: q.Type, Status: q.Status, Capability: q.Capability, Labels: q.Labels})
	}
	if err != nil {
		s.logger().WarnContext(ctx, "discovery: ranking by words alone: the vector search failed",
			slog.String("embedder", s.Embedder.Model()), slog.String("index", s.Index.Backend()), slog.String("error", err.Error()))
		return nil
	}
	return hits
}

func (s *Service) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.Default()
}

// matches reports whether a passes q's filters and namespaces.
func matches(q *platform.DiscoveryQuery, a *platform.Agent) bool {
	vq := platform.VectorQuery{Namespaces: q.Namespaces, Type: q.Type, Status: q.Status, Capability: q.Capability, Labels: q.Labels}
	return vq.Matches(Doc(a, nil))
}

// Available reports whether a may be chosen to work: active, and not found
// unhealthy.
func Available(a *platform.Agent) bool {
	return a.Status == platform.AgentActive && a.Health.Status != platform.HealthUnhealthy
}

// Doc is the vector document of a with vector v.
func Doc(a *platform.Agent, v []float32) *platform.VectorDoc {
	return &platform.VectorDoc{ID: a.ID, Namespace: a.Namespace, Vector: v, Type: a.Type, Status: a.Status,
		Capabilities: a.Capabilities, Labels: a.Labels}
}

// Matched lists the fields of a that hold one of terms, compared by their
// stems: name, description, capabilities, labels, manifest (the role and
// tool descriptions of its OSSA manifest).
func Matched(terms []string, a *platform.Agent) []string {
	out := []string{}
	if len(terms) == 0 {
		return out
	}
	want := map[string]bool{}
	for _, t := range terms {
		want[stem(t)] = true
	}
	var labels []string
	for k, v := range a.Labels {
		labels = append(labels, k, v)
	}
	for _, f := range []struct{ name, text string }{
		{"name", a.Name}, {"description", a.Description}, {"capabilities", strings.Join(a.Capabilities, " ")},
		{"labels", strings.Join(labels, " ")}, {"manifest", manifestText(a)},
	} {
		for _, w := range platform.SearchTerms(f.text) {
			if want[stem(w)] {
				out = append(out, f.name)
				break
			}
		}
	}
	return out
}

// stem strips the commonest English suffixes, so that "invoices" and
// "invoice", "extracting" and "extract" compare equal. Words of four
// letters or fewer are kept.
func stem(w string) string {
	for _, suffix := range []string{"ations", "ation", "ings", "ing", "ies", "ers", "er", "ed", "es", "s"} {
		if len(w) > len(suffix)+3 && strings.HasSuffix(w, suffix) {
			w = strings.TrimSuffix(w, suffix)
			if suffix == "ies" {
				w += "y"
			}
			return w
		}
	}
	return w
}

// Text is what an agent's embedding is made of: its name, description,
// capabilities and labels, and from its OSSA manifest the description,
// the role and the tools' descriptions. Names and capabilities are split
// into words ("extract_line_items" → "extract line items").
func Text(a *platform.Agent) string {
	split := strings.NewReplacer("-", " ", "_", " ", ".", " ", ":", " ", "/", " ")
	parts := []string{split.Replace(a.Name), a.Description}
	for _, c := range a.Capabilities {
		parts = append(parts, split.Replace(c))
	}
	keys := make([]string, 0, len(a.Labels))
	for k := range a.Labels {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		parts = append(parts, split.Replace(k)+" "+split.Replace(a.Labels[k]))
	}
	if m := manifestText(a); m != "" {
		parts = append(parts, m)
	}
	return strings.Join(parts, ". ")
}

// maxManifestText bounds what of a manifest goes into an embedding: a
// system prompt may be long, and what it says first says most.
const maxManifestText = 2000

// manifestText is the prose of a's OSSA manifest that its record does not
// hold: metadata.description when it differs, spec.role, and the
// descriptions of spec.tools and spec.capabilities. "" without a manifest.
func manifestText(a *platform.Agent) string {
	if a.Manifest == nil || len(a.Manifest.Body) == 0 {
		return ""
	}
	key := sha256.Sum256(a.Manifest.Body)
	manifestTexts.mu.Lock()
	text, ok := manifestTexts.m[key]
	manifestTexts.mu.Unlock()
	if ok {
		return text
	}
	text = parseManifestText(a)
	manifestTexts.mu.Lock()
	if len(manifestTexts.m) >= maxManifestTexts { // bounded: start over
		clear(manifestTexts.m)
	}
	manifestTexts.m[key] = text
	manifestTexts.mu.Unlock()
	return text
}

// manifestTexts keeps manifestText's answers by the manifest's SHA-256:
// every search reads the prose of the agents it returns, and parsing their
// YAML was an eighth of a search's CPU.
var manifestTexts = struct {
	mu sync.Mutex
	m  map[[sha256.Size]byte]string
}{m: map[[sha256.Size]byte]string{}}

// maxManifestTexts bounds manifestTexts (at most 2 KB each).
const maxManifestTexts = 4096

// parseManifestText is manifestText without the cache.
func parseManifestText(a *platform.Agent) string {
	var m struct {
		Metadata struct {
			Description string `yaml:"description"`
		} `yaml:"metadata"`
		Spec struct {
			Role         any   `yaml:"role"`
			Tools        []any `yaml:"tools"`
			Capabilities []any `yaml:"capabilities"`
		} `yaml:"spec"`
	}
	if err := yaml.Unmarshal(a.Manifest.Body, &m); err != nil { // JSON is YAML
		return ""
	}
	var parts []string
	if d := m.Metadata.Description; d != "" && d != a.Description {
		parts = append(parts, d)
	}
	if r, ok := m.Spec.Role.(string); ok {
		parts = append(parts, r)
	}
	for _, list := range [][]any{m.Spec.Tools, m.Spec.Capabilities} {
		for _, item := range list {
			if obj, ok := item.(map[string]any); ok {
				if d, ok := obj["description"].(string); ok {
					parts = append(parts, d)
				}
			}
		}
	}
	return platform.Truncate(strings.Join(parts, ". "), maxManifestText)
}
