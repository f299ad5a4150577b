// Package hnsw is an approximate vector index in memory: a hierarchical
// navigable small world graph (Malkov and Yashunin, "Efficient and robust
// approximate nearest neighbor search using Hierarchical Navigable Small
// World graphs", 2016) over normalized vectors, where cosine similarity is
// the dot product. It is the search half of the embedded vector index;
// package sqlite keeps the vectors and rebuilds one at start.
//
// Small indexes, selective filters and exact queries are answered by
// comparing the query with every matching document, which below a few
// thousand documents is faster than the graph and always exact.
// Replacing a document's vector or deleting it leaves a tombstone, a node
// that still links the graph but is never a hit; once tombstones outnumber
// the live documents the graph is rebuilt from the live ones.
package hnsw

import (
	"context"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"sync"

	"github.com/ossa-platform/platform"
)

// Options tune the graph; the zero value of each field takes its default.
type Options struct {
	// M is how many neighbours a node links to at each level above the
	// bottom one (2M at the bottom); 16 when 0.
	M int
	// EfConstruction is how many candidates an insertion weighs for a
	// node's neighbours; 200 when 0.
	EfConstruction int
	// EfSearch is how many candidates a search keeps, at least its limit;
	// DefaultEfSearch when 0.
	EfSearch int
	// ExactBelow is the number of live documents under which searches
	// compare the query with every document, and the number of matching
	// documents under which a filtered search does; DefaultExactBelow
	// when 0, never (for tests of the graph) when negative.
	ExactBelow int
	// Seed seeds the draw of node levels, for graphs that repeat; 1 when 0.
	Seed uint64
}

// DefaultEfSearch is the candidates a search keeps when Options.EfSearch
// is 0: recall@10 0.996 on vectortest's clustered corpus, whose queries
// lie away from every cluster, and 1.000 on the benchmark's 100,000
// vectors of 384 dimensions, at 1.6 ms of CPU a search there
// (docs/vector-index.md).
const DefaultEfSearch = 200

// DefaultExactBelow is Options.ExactBelow's default: below it brute force
// is about as fast as the graph (docs/vector-index.md).
const DefaultExactBelow = 3000

// WithDefaults returns o with every zero field set to its default.
func (o Options) WithDefaults() Options {
	if o.M <= 0 {
		o.M = 16
	}
	if o.EfConstruction <= 0 {
		o.EfConstruction = 200
	}
	if o.EfSearch <= 0 {
		o.EfSearch = DefaultEfSearch
	}
	if o.ExactBelow == 0 {
		o.ExactBelow = DefaultExactBelow
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
	return o
}

// Index is an approximate platform.VectorIndex in memory. It is safe for
// concurrent use: searches run together, a write excludes them.
type Index struct {
	dim       int
	opts      Options
	levelMult float64

	mu sync.RWMutex
	// vecs holds every node's normalized vector, node i's at i*dim.
	vecs  []float32
	nodes []node
	// byID finds the live node of each document; namespaces numbers
	// every namespace a node has had.
	byID       map[string]uint32
	namespaces map[string]uint32
	// entry is the node searches start from (-1 when the graph is empty),
	// maxLevel its level; deleted counts the tombstones.
	entry    int32
	maxLevel int
	deleted  int
	rng      *rand.Rand
	// locks[i] guards node i's links while insertAll links nodes in
	// parallel (parallel set); entryMu guards entry and maxLevel then.
	locks    []sync.Mutex
	parallel bool
	entryMu  sync.Mutex

	visitedPool sync.Pool
	// searching admits as many searches at once as there are CPUs. A
	// search is a millisecond or two of CPU that the Go scheduler does
	// not preempt; with more searches than CPUs, those it leaves waiting
	// wait the longest, and the queue of this channel serves them in
	// turn instead: at 8 clients on 2 CPUs (30,000 documents) p99 fell
	// from about 80 ms to 14 ms (docs/vector-index.md).
	searching chan struct{}
}

var _ platform.VectorIndex = (*Index)(nil)

// New returns an empty index of vectors of dim dimensions.
func New(dim int, opts Options) *Index {
	opts = opts.WithDefaults()
	x := &Index{dim: dim, opts: opts, levelMult: 1 / math.Log(float64(opts.M)),
		namespaces: map[string]uint32{}, searching: make(chan struct{}, runtime.GOMAXPROCS(0))}
	x.reset(0)
	return x
}

// reset empties the graph, with room for n documents.
func (x *Index) reset(n int) {
	x.vecs = make([]float32, 0, n*x.dim)
	x.nodes = make([]node, 0, n)
	x.locks = make([]sync.Mutex, 0, n)
	x.byID = make(map[string]uint32, n)
	x.entry, x.maxLevel, x.deleted = -1, 0, 0
	x.rng = rand.New(rand.NewPCG(x.opts.Seed, x.opts.Seed^0x9e3779b97f4a7c15))
}

// Dimension is the length of the index's vectors.
func (x *Index) Dimension() int { return x.dim }

// Backend returns "hnsw".
func (x *Index) Backend() string { return "hnsw" }

// Count is how many documents the index holds.
func (x *Index) Count(context.Context) (int, error) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return len(x.byID), nil
}

// Upsert stores docs, replacing those with the same IDs: a replacement
// with the same vector changes the attributes in place, one with another
// vector leaves a tombstone and links a new node.
func (x *Index) Upsert(_ context.Context, docs ...platform.VectorDoc) error {
	if err := platform.CheckVectorDocs(x.dim, docs); err != nil {
		return err
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	added := make([]uint32, 0, len(docs))
	for _, d := range docs {
		v := platform.Normalize(slices.Clone(d.Vector))
		d.Vector = nil
		d.Capabilities = slices.Clone(d.Capabilities)
		if d.Labels != nil {
			m := make(map[string]string, len(d.Labels))
			for k, val := range d.Labels {
				m[k] = val
			}
			d.Labels = m
		}
		if i, ok := x.byID[d.ID]; ok {
			if slices.Equal(x.vec(i), v) {
				x.nodes[i].doc, x.nodes[i].ns = &d, x.namespaceNumber(d.Namespace)
				continue
			}
			x.nodes[i].deleted = true
			x.deleted++
		}
		added = append(added, x.newNode(&d, v))
	}
	x.insertAll(added)
	x.compact()
	return nil
}

// Delete removes the documents with these IDs; unknown IDs are ignored.
func (x *Index) Delete(_ context.Context, ids ...string) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	for _, id := range ids {
		if i, ok := x.byID[id]; ok {
			delete(x.byID, id)
			x.nodes[i].deleted = true
			x.deleted++
		}
	}
	x.compact()
	return nil
}

// compact rebuilds the graph from the live documents once tombstones
// outnumber them: a search walks through tombstones, and when most of
// the graph is tombstones it walks far for few hits. Each rebuild follows
// at least as many deletions as it reinserts documents, so its cost per
// deletion stays one insertion.
func (x *Index) compact() {
	if x.deleted == 0 || x.deleted <= len(x.byID) {
		return
	}
	old, oldVecs, dim := x.nodes, x.vecs, x.dim
	x.reset(len(x.byID))
	added := make([]uint32, 0, cap(x.nodes))
	for j := range old {
		if !old[j].deleted {
			added = append(added, x.newNode(old[j].doc, oldVecs[j*dim:(j+1)*dim]))
		}
	}
	x.insertAll(added)
}

// visitsPerEf weighs a filtered walk of the graph against brute force
// over the matches: with m matches of n, brute force compares m vectors,
// and a walk that skips the others about visitsPerEf*ef*n/m (it visits
// about 1/share the nodes of an unfiltered walk), so Search walks the
// graph when m² >= visitsPerEf*ef*n. Fitted on 100,000 vectors of 384
// dimensions at ef 200: a filter matching 25% took 6.8 ms of CPU by the
// graph and 9.4 ms by brute force, one matching 5% 3.7 ms by brute force
// (docs/vector-index.md); 20 puts the switch at 20% there.
const visitsPerEf = 20

// Search returns the documents nearest q.Vector that match q's filters,
// best first, ties by ID.
func (x *Index) Search(ctx context.Context, q platform.VectorQuery) ([]platform.VectorHit, error) {
	if err := q.Validate(x.dim); err != nil {
		return nil, err
	}
	qv := platform.Normalize(slices.Clone(q.Vector))
	select {
	case x.searching <- struct{}{}:
		defer func() { <-x.searching }()
	case <-ctx.Done():
		return nil, platform.Errorf(platform.EUNAVAILABLE, "the vector search waited too long: %v", ctx.Err())
	}
	x.mu.RLock()
	defer x.mu.RUnlock()
	live := len(x.byID)
	if live == 0 || len(q.Namespaces) == 0 {
		return []platform.VectorHit{}, nil
	}
	small := x.opts.ExactBelow > 0 && live < x.opts.ExactBelow
	if q.Exact || small {
		return x.hits(x.exact(qv, q.Limit, func(i uint32) bool { return q.Matches(x.nodes[i].doc) })), nil
	}
	ef := max(x.opts.EfSearch, q.Limit)
	allowed := func(i uint32) bool { return !x.nodes[i].deleted }
	matching := live
	if !unfiltered(&q) {
		var bits []uint64
		bits, matching = x.matching(&q)
		allowed = func(i uint32) bool { return bits[i/64]&(1<<(i%64)) != 0 }
		if matching == 0 {
			return []platform.VectorHit{}, nil
		}
		// Brute force compares matching vectors, the walk about
		// visitsPerEf*ef*live/matching.
		if matching < x.opts.ExactBelow || float64(matching)*float64(matching) < visitsPerEf*float64(ef)*float64(live) {
			return x.hits(x.exact(qv, q.Limit, allowed)), nil
		}
	}
	found := x.searchGraph(qv, ef, allowed)
	if len(found) < min(q.Limit, matching) {
		// The graph walk ran out of matches before the limit (a filter the
		// nearest part of the graph does not meet): the matches there are
		// are all found exactly.
		found = x.exact(qv, q.Limit, allowed)
	}
	slices.SortFunc(found, x.compare)
	return x.hits(found[:min(len(found), q.Limit)]), nil
}

// matching marks the live nodes that match q's filters and counts them:
// the namespace first, by number, then the rest.
func (x *Index) matching(q *platform.VectorQuery) ([]uint64, int) {
	ns := make([]bool, len(x.namespaces))
	for _, n := range q.Namespaces {
		if n == platform.AllNamespaces {
			for i := range ns {
				ns[i] = true
			}
		} else if i, ok := x.namespaces[n]; ok {
			ns[i] = true
		}
	}
	rest := q.Type != "" || q.Status != "" || q.Capability != "" || len(q.Labels) > 0
	bits := make([]uint64, (len(x.nodes)+63)/64)
	count := 0
	for j := range x.nodes {
		n := &x.nodes[j]
		if n.deleted || !ns[n.ns] || (rest && !q.Matches(n.doc)) {
			continue
		}
		bits[j/64] |= 1 << (j % 64)
		count++
	}
	return bits, count
}

// unfiltered reports whether q matches every document.
func unfiltered(q *platform.VectorQuery) bool {
	if q.Type != "" || q.Status != "" || q.Capability != "" || len(q.Labels) > 0 {
		return false
	}
	return slices.Contains(q.Namespaces, platform.AllNamespaces)
}

// searchGraph descends the levels from the entry point and returns the ef
// nodes nearest q at the bottom that allowed reports.
func (x *Index) searchGraph(q []float32, ef int, allowed func(uint32) bool) []item {
	ep := item{sim: dot(q, x.vec(uint32(x.entry))), id: uint32(x.entry)}
	for l := x.maxLevel; l > 0; l-- {
		ep = x.greedy(q, ep, l)
	}
	return x.searchLayer(q, []item{ep}, ef, 0, allowed)
}

// exact compares q with every live node that allowed reports and returns
// the best limit of them, in order.
func (x *Index) exact(q []float32, limit int, allowed func(uint32) bool) []item {
	h := rankHeap{s: make([]item, 0, limit), worse: func(a, b item) bool { return x.compare(a, b) > 0 }}
	for j := range x.nodes {
		i := uint32(j)
		if x.nodes[i].deleted || !allowed(i) {
			continue
		}
		h.offer(item{sim: dot(q, x.vec(i)), id: i}, limit)
	}
	slices.SortFunc(h.s, x.compare)
	return h.s
}

// compare orders items best first, ties by ID.
func (x *Index) compare(a, b item) int {
	switch {
	case a.sim > b.sim:
		return -1
	case a.sim < b.sim:
		return 1
	}
	return strings.Compare(x.nodes[a.id].doc.ID, x.nodes[b.id].doc.ID)
}

// hits turns items into the search's answer.
func (x *Index) hits(items []item) []platform.VectorHit {
	out := make([]platform.VectorHit, len(items))
	for j, it := range items {
		d := x.nodes[it.id].doc
		out[j] = platform.VectorHit{ID: d.ID, Namespace: d.Namespace, Score: it.sim}
	}
	return out
}
