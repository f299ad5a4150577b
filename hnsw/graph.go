package hnsw

import (
	"github.com/ossa-platform/platform"

	"math"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
)

// node is one document in the graph. A replaced or deleted document stays
// as a tombstone (deleted), still a way through the graph but never a
// hit, until the graph is rebuilt.
type node struct {
	// doc holds the document's ID and filter attributes; its Vector is
	// nil, the vector being in the index's slab at the node's offset.
	doc *platform.VectorDoc
	// links[l] are the node's neighbours at level l, 0 to its level.
	links   [][]uint32
	deleted bool
	// ns numbers the document's namespace (Index.namespaces), for a
	// filter's first, cheapest test.
	ns uint32
}

// vec is node i's normalized vector.
func (x *Index) vec(i uint32) []float32 {
	o := int(i) * x.dim
	return x.vecs[o : o+x.dim : o+x.dim]
}

// randomLevel draws a node's top level: exponentially rarer with height,
// mL = 1/ln(M), as Malkov and Yashunin prescribe.
func (x *Index) randomLevel() int {
	u := x.rng.Float64()
	if u == 0 {
		u = math.SmallestNonzeroFloat64
	}
	return int(-math.Log(u) * x.levelMult)
}

// maxLinks is how many neighbours a node keeps at level l: 2M at the
// bottom level, M above.
func (x *Index) maxLinks(l int) int {
	if l == 0 {
		return 2 * x.opts.M
	}
	return x.opts.M
}

// newNode appends a node for doc with vector v, its level drawn and its
// link lists made, not yet linked into the graph.
func (x *Index) newNode(doc *platform.VectorDoc, v []float32) uint32 {
	i := uint32(len(x.nodes))
	x.vecs = append(x.vecs, v...)
	level := x.randomLevel()
	links := make([][]uint32, level+1)
	for l := range links {
		links[l] = make([]uint32, 0, x.maxLinks(l)+1)
	}
	x.nodes = append(x.nodes, node{doc: doc, links: links, ns: x.namespaceNumber(doc.Namespace)})
	x.locks = append(x.locks, sync.Mutex{})
	x.byID[doc.ID] = i
	return i
}

// namespaceNumber numbers namespace, the first time it is seen.
func (x *Index) namespaceNumber(namespace string) uint32 {
	ns, ok := x.namespaces[namespace]
	if !ok {
		ns = uint32(len(x.namespaces))
		x.namespaces[namespace] = ns
	}
	return ns
}

// parallelFrom is how many nodes a batch must link for insertAll to link
// them from several goroutines.
const parallelFrom = 256

// insertAll links the new nodes into the graph: a large batch on every
// CPU, each goroutine inserting one node at a time and taking the lock of
// each node whose links it reads or writes (as hnswlib does), since the
// graph is then read and written at once.
func (x *Index) insertAll(nodes []uint32) {
	// A graph's first nodes are linked alone, so the others find a graph.
	first := 0
	for ; first < len(nodes) && (x.entry < 0 || len(nodes) < parallelFrom || first < 64); first++ {
		x.insert(nodes[first])
	}
	rest := nodes[first:]
	workers := runtime.GOMAXPROCS(0)
	if len(rest) == 0 {
		return
	}
	if workers < 2 || len(rest) < parallelFrom {
		for _, i := range rest {
			x.insert(i)
		}
		return
	}
	x.parallel = true
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				j := next.Add(1) - 1
				if j >= int64(len(rest)) {
					return
				}
				x.insert(rest[j])
			}
		})
	}
	wg.Wait()
	x.parallel = false
}

// neighbours returns node i's links at level l: while the graph is built
// in parallel, a copy in buf made under the node's lock.
func (x *Index) neighbours(i uint32, l int, buf []uint32) []uint32 {
	if !x.parallel {
		return x.nodes[i].links[l]
	}
	x.locks[i].Lock()
	buf = append(buf[:0], x.nodes[i].links[l]...)
	x.locks[i].Unlock()
	return buf
}

// insert links node i, whose vector and link lists are made, into the
// graph.
func (x *Index) insert(i uint32) {
	n := &x.nodes[i]
	level := len(n.links) - 1
	x.entryMu.Lock()
	entry, maxLevel := x.entry, x.maxLevel
	if entry < 0 {
		x.entry, x.maxLevel = int32(i), level
		x.entryMu.Unlock()
		return
	}
	if level > maxLevel {
		// A new top node becomes the entry once linked; insertions
		// wait for it rather than start from an entry about to change.
		defer x.entryMu.Unlock()
	} else {
		x.entryMu.Unlock()
	}
	q := x.vec(i)
	ep := item{sim: dot(q, x.vec(uint32(entry))), id: uint32(entry)}
	for l := maxLevel; l > level; l-- {
		ep = x.greedy(q, ep, l)
	}
	eps := []item{ep}
	for l := min(level, maxLevel); l >= 0; l-- {
		w := x.searchLayer(q, eps, x.opts.EfConstruction, l, nil)
		nb := x.selectNeighbors(w, x.opts.M)
		if x.parallel {
			x.locks[i].Lock()
		}
		for _, e := range nb {
			n.links[l] = append(n.links[l], e.id)
		}
		if x.parallel {
			x.locks[i].Unlock()
		}
		for _, e := range nb {
			x.link(e.id, i, e.sim, l)
		}
		eps = w
	}
	if level > maxLevel {
		x.entry, x.maxLevel = int32(i), level
	}
}

// link adds to from's neighbours at level l the node to, at similarity
// sim, and when from has too many keeps the heuristic's choice of them.
func (x *Index) link(from, to uint32, sim float32, l int) {
	if x.parallel {
		x.locks[from].Lock()
		defer x.locks[from].Unlock()
	}
	links := append(x.nodes[from].links[l], to)
	max := x.maxLinks(l)
	if len(links) <= max {
		x.nodes[from].links[l] = links
		return
	}
	v := x.vec(from)
	cands := make([]item, len(links))
	for j, id := range links {
		if id == to {
			cands[j] = item{sim: sim, id: id}
		} else {
			cands[j] = item{sim: dot(v, x.vec(id)), id: id}
		}
	}
	sortBySim(cands)
	kept := x.selectNeighbors(cands, max)
	links = links[:0]
	for _, e := range kept {
		links = append(links, e.id)
	}
	x.nodes[from].links[l] = links
}

// selectNeighbors is the paper's heuristic (algorithm 4) over cands,
// best first: a candidate is kept when it is nearer the base than any
// neighbour kept before it, so that links reach out in every direction
// rather than all into the nearest cluster.
func (x *Index) selectNeighbors(cands []item, m int) []item {
	if len(cands) <= m {
		return cands
	}
	out := make([]item, 0, m)
	for _, c := range cands {
		if len(out) == m {
			break
		}
		v, good := x.vec(c.id), true
		for _, r := range out {
			if dot(v, x.vec(r.id)) > c.sim {
				good = false
				break
			}
		}
		if good {
			out = append(out, c)
		}
	}
	return out
}

// greedy walks level l from ep to the node nearest q it can reach by
// always moving to a nearer neighbour.
func (x *Index) greedy(q []float32, ep item, l int) item {
	var buf []uint32
	for changed := true; changed; {
		changed = false
		buf = x.neighbours(ep.id, l, buf)
		for _, e := range buf {
			if s := dot(q, x.vec(e)); s > ep.sim {
				ep, changed = item{sim: s, id: e}, true
			}
		}
	}
	return ep
}

// searchLayer is the paper's algorithm 2 at level l from eps: the ef
// nodes nearest q it finds, best first. When allowed is not nil, only the
// nodes it reports count as results, while every node is still a way
// through the graph (so deleted and filtered-out nodes keep it connected).
func (x *Index) searchLayer(q []float32, eps []item, ef, l int, allowed func(uint32) bool) []item {
	vis := x.visitedList()
	defer x.visitedPool.Put(vis)
	cands := make(maxHeap, 0, 2*ef)
	res := make(minHeap, 0, ef+1)
	for _, ep := range eps {
		if vis.visit(ep.id) {
			continue
		}
		cands.push(ep)
		if allowed == nil || allowed(ep.id) {
			res.push(ep)
			if len(res) > ef {
				res.pop()
			}
		}
	}
	var buf []uint32
	for len(cands) > 0 {
		c := cands.pop()
		if len(res) >= ef && c.sim < res[0].sim {
			break
		}
		buf = x.neighbours(c.id, l, buf)
		for _, e := range buf {
			if vis.visit(e) {
				continue
			}
			s := dot(q, x.vec(e))
			if len(res) < ef || s > res[0].sim {
				cands.push(item{sim: s, id: e})
				if allowed == nil || allowed(e) {
					res.push(item{sim: s, id: e})
					if len(res) > ef {
						res.pop()
					}
				}
			}
		}
	}
	out := []item(res)
	sortBySim(out)
	return out
}

// sortBySim orders items most similar first.
func sortBySim(s []item) {
	slices.SortFunc(s, func(a, b item) int {
		switch {
		case a.sim > b.sim:
			return -1
		case a.sim < b.sim:
			return 1
		}
		return 0
	})
}

// visited marks the nodes one search has seen: a node is seen when its
// mark is the list's generation, so a list is reused without clearing.
type visited struct {
	marks []uint32
	gen   uint32
}

// visit marks i seen and reports whether it was already.
func (v *visited) visit(i uint32) bool {
	if v.marks[i] == v.gen {
		return true
	}
	v.marks[i] = v.gen
	return false
}

// visitedList returns a list for the graph's size, its marks all clear.
func (x *Index) visitedList() *visited {
	v, _ := x.visitedPool.Get().(*visited)
	if v == nil || len(v.marks) < len(x.nodes) {
		return &visited{marks: make([]uint32, len(x.nodes)+len(x.nodes)/4+16), gen: 1}
	}
	v.gen++
	if v.gen == 0 {
		clear(v.marks)
		v.gen = 1
	}
	return v
}
