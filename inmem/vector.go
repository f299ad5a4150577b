package inmem

import (
	"context"
	"slices"
	"sync"

	"github.com/ossa-platform/platform"
)

// VectorIndex is an exact platform.VectorIndex in memory: every search
// compares the query with every document. It is the reference the
// approximate indexes are measured against, and fast enough for a few
// thousand agents.
type VectorIndex struct {
	dim  int
	mu   sync.RWMutex
	docs map[string]*platform.VectorDoc
}

var _ platform.VectorIndex = (*VectorIndex)(nil)

// NewVectorIndex returns an empty index of vectors of dim dimensions.
func NewVectorIndex(dim int) *VectorIndex {
	return &VectorIndex{dim: dim, docs: map[string]*platform.VectorDoc{}}
}

// Dimension is the length of the index's vectors.
func (x *VectorIndex) Dimension() int { return x.dim }

// Backend returns "exact".
func (x *VectorIndex) Backend() string { return "exact" }

// Upsert stores docs, replacing those with the same IDs.
func (x *VectorIndex) Upsert(_ context.Context, docs ...platform.VectorDoc) error {
	if err := platform.CheckVectorDocs(x.dim, docs); err != nil {
		return err
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	for _, d := range docs {
		d.Vector = slices.Clone(d.Vector)
		x.docs[d.ID] = &d
	}
	return nil
}

// Delete removes the documents with these IDs.
func (x *VectorIndex) Delete(_ context.Context, ids ...string) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	for _, id := range ids {
		delete(x.docs, id)
	}
	return nil
}

// Count is how many documents the index holds.
func (x *VectorIndex) Count(context.Context) (int, error) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return len(x.docs), nil
}

// Search compares q with every document that matches its filters.
func (x *VectorIndex) Search(_ context.Context, q platform.VectorQuery) ([]platform.VectorHit, error) {
	if err := q.Validate(x.dim); err != nil {
		return nil, err
	}
	x.mu.RLock()
	hits := make([]platform.VectorHit, 0, 64)
	for _, d := range x.docs {
		if q.Matches(d) {
			hits = append(hits, platform.VectorHit{ID: d.ID, Namespace: d.Namespace, Score: platform.Cosine(q.Vector, d.Vector)})
		}
	}
	x.mu.RUnlock()
	platform.SortVectorHits(hits)
	return hits[:min(len(hits), q.Limit)], nil
}
