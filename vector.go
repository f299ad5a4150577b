package platform

import (
	"context"
	"math"
	"sort"
	"strconv"
)

// Semantic discovery: agents are found from a sentence by comparing the
// embedding of the sentence with the embeddings of the agents' text.
// docs/discovery.md describes it.

// Embedder turns text into vectors: a model, local or behind an
// OpenAI-compatible /v1/embeddings endpoint. Vectors of one embedder are
// comparable with each other alone: an index records the Model and
// Dimension it holds, and a change of either re-indexes everything.
type Embedder interface {
	// Model names the model ("lexical-v1", "nomic-embed-text").
	Model() string
	// Dimension is the length of every vector Embed returns.
	Dimension() int
	// Embed returns one L2-normalised vector per text, in order. An
	// embedder that cannot answer now (its endpoint is down) returns
	// EUNAVAILABLE.
	Embed(ctx context.Context, texts []string) ([][]float32, error)
}

// VectorDoc is one indexed agent: its vector and the attributes searches
// filter on.
type VectorDoc struct {
	// ID is the agent's ID; Namespace the agent's namespace.
	ID        string
	Namespace string
	// Vector has the index's dimension.
	Vector []float32
	// Type, Status, Capabilities and Labels are the agent's, for filters.
	Type         AgentType
	Status       AgentStatus
	Capabilities []string
	Labels       map[string]string
}

// VectorQuery is a nearest-neighbour search.
type VectorQuery struct {
	// Vector is compared with the documents' by cosine similarity.
	Vector []float32
	// Limit is how many hits at most, 1 to MaxVectorLimit.
	Limit int
	// Namespaces confine the search: documents of these namespaces only
	// (AllNamespaces among them: of every one). Empty finds nothing.
	Namespaces []string
	// Filters, each only when set: the type, the status, a capability
	// the document has, labels it has with these values.
	Type       AgentType
	Status     AgentStatus
	Capability string
	Labels     map[string]string
	// Exact compares the query with every document (brute force),
	// bypassing any approximate index: the reference recall is measured
	// against.
	Exact bool
}

// MaxVectorLimit is the most hits one search returns.
const MaxVectorLimit = 1000

// VectorHit is one search result: the document and its cosine similarity
// with the query, from -1 to 1, higher first.
type VectorHit struct {
	ID        string
	Namespace string
	Score     float32
}

// VectorIndex keeps VectorDocs and finds those nearest a vector. Every
// implementation passes vectortest.
type VectorIndex interface {
	// Upsert stores docs, replacing those with the same ID. A vector of
	// another dimension than the index's is EINVALID.
	Upsert(ctx context.Context, docs ...VectorDoc) error
	// Delete removes the documents with these IDs; unknown IDs are
	// ignored.
	Delete(ctx context.Context, ids ...string) error
	// Search returns the documents nearest q.Vector that match q's
	// filters, best first, ties by ID.
	Search(ctx context.Context, q VectorQuery) ([]VectorHit, error)
	// Count is how many documents the index holds.
	Count(ctx context.Context) (int, error)
	// Dimension is the length of the index's vectors.
	Dimension() int
	// Backend names the implementation ("embedded", "pgvector", "qdrant").
	Backend() string
}

// Matches reports whether d passes q's namespaces and filters (not its
// vector): how an index that filters in memory decides, and the meaning
// every index's filters must have.
func (q *VectorQuery) Matches(d *VectorDoc) bool {
	ns := false
	for _, n := range q.Namespaces {
		if n == AllNamespaces || n == d.Namespace {
			ns = true
			break
		}
	}
	if !ns || (q.Type != "" && q.Type != d.Type) || (q.Status != "" && q.Status != d.Status) {
		return false
	}
	if q.Capability != "" {
		found := false
		for _, c := range d.Capabilities {
			if c == q.Capability {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	for k, v := range q.Labels {
		if got, ok := d.Labels[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// Cosine is the cosine similarity of a and b, which have one length: their
// dot product over the product of their norms (0 when either is zero).
func Cosine(a, b []float32) float32 {
	var dot, na, nb float64
	for i := range a {
		dot += float64(a[i]) * float64(b[i])
		na += float64(a[i]) * float64(a[i])
		nb += float64(b[i]) * float64(b[i])
	}
	if na == 0 || nb == 0 {
		return 0
	}
	return float32(dot / math.Sqrt(na*nb))
}

// Normalize scales v to unit length in place (a zero vector stays zero)
// and returns it.
func Normalize(v []float32) []float32 {
	var n float64
	for _, x := range v {
		n += float64(x) * float64(x)
	}
	if n == 0 {
		return v
	}
	inv := float32(1 / math.Sqrt(n))
	for i := range v {
		v[i] *= inv
	}
	return v
}

// Validate reports what makes q unusable on an index of dimension dim: a
// vector of another length, a limit out of range. EINVALID.
func (q *VectorQuery) Validate(dim int) error {
	var p Problems
	if len(q.Vector) != dim {
		p.Add("vector", "has %d dimensions; the index's have %d", len(q.Vector), dim)
	}
	if q.Limit < 1 || q.Limit > MaxVectorLimit {
		p.Add("limit", "must be from 1 to %d, not %d", MaxVectorLimit, q.Limit)
	}
	return p.Err("the vector search is not valid")
}

// CheckVectorDocs reports a document without an ID, or whose vector has
// not dim dimensions, as EINVALID: what every index refuses before
// storing any of a batch.
func CheckVectorDocs(dim int, docs []VectorDoc) error {
	var p Problems
	for i, d := range docs {
		if d.ID == "" {
			p.Add("docs/"+strconv.Itoa(i)+"/id", "is required")
		}
		if len(d.Vector) != dim {
			p.Add("docs/"+strconv.Itoa(i)+"/vector", "has %d dimensions; the index's have %d", len(d.Vector), dim)
		}
	}
	return p.Err("the documents cannot be indexed")
}

// SortVectorHits orders hits best first, ties by ID: the order of every
// index's Search.
func SortVectorHits(hits []VectorHit) {
	sort.Slice(hits, func(i, j int) bool {
		if hits[i].Score != hits[j].Score {
			return hits[i].Score > hits[j].Score
		}
		return hits[i].ID < hits[j].ID
	})
}
