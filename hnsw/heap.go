package hnsw

// item is a node of the graph and its similarity with a query.
type item struct {
	sim float32
	id  uint32
}

// maxHeap pops the most similar item first: a search's candidates.
type maxHeap []item

func (h *maxHeap) push(it item) {
	*h = append(*h, it)
	s := *h
	i := len(s) - 1
	for i > 0 {
		p := (i - 1) / 2
		if s[p].sim >= s[i].sim {
			break
		}
		s[p], s[i] = s[i], s[p]
		i = p
	}
}

func (h *maxHeap) pop() item {
	s := *h
	top := s[0]
	n := len(s) - 1
	s[0] = s[n]
	s = s[:n]
	i := 0
	for {
		l, r, m := 2*i+1, 2*i+2, i
		if l < n && s[l].sim > s[m].sim {
			m = l
		}
		if r < n && s[r].sim > s[m].sim {
			m = r
		}
		if m == i {
			break
		}
		s[i], s[m] = s[m], s[i]
		i = m
	}
	*h = s
	return top
}

// minHeap keeps the least similar item on top: a search's results, whose
// worst is dropped when a better one comes.
type minHeap []item

func (h *minHeap) push(it item) {
	*h = append(*h, it)
	s := *h
	i := len(s) - 1
	for i > 0 {
		p := (i - 1) / 2
		if s[p].sim <= s[i].sim {
			break
		}
		s[p], s[i] = s[i], s[p]
		i = p
	}
}

func (h *minHeap) pop() item {
	s := *h
	top := s[0]
	n := len(s) - 1
	s[0] = s[n]
	s = s[:n]
	i := 0
	for {
		l, r, m := 2*i+1, 2*i+2, i
		if l < n && s[l].sim < s[m].sim {
			m = l
		}
		if r < n && s[r].sim < s[m].sim {
			m = r
		}
		if m == i {
			break
		}
		s[i], s[m] = s[m], s[i]
		i = m
	}
	*h = s
	return top
}

// rankHeap keeps the k best items of an exact search on top of its worst,
// by similarity and then by ID (worse reports whether a ranks below b), so
// that equal similarities at the edge of the k are decided as the final
// order decides them.
type rankHeap struct {
	s     []item
	worse func(a, b item) bool
}

// offer keeps it if it ranks among the k best seen.
func (h *rankHeap) offer(it item, k int) {
	if len(h.s) < k {
		h.s = append(h.s, it)
		h.up(len(h.s) - 1)
		return
	}
	if !h.worse(h.s[0], it) {
		return
	}
	h.s[0] = it
	h.down(0)
}

func (h *rankHeap) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !h.worse(h.s[i], h.s[p]) {
			break
		}
		h.s[p], h.s[i] = h.s[i], h.s[p]
		i = p
	}
}

func (h *rankHeap) down(i int) {
	n := len(h.s)
	for {
		l, r, m := 2*i+1, 2*i+2, i
		if l < n && h.worse(h.s[l], h.s[m]) {
			m = l
		}
		if r < n && h.worse(h.s[r], h.s[m]) {
			m = r
		}
		if m == i {
			return
		}
		h.s[i], h.s[m] = h.s[m], h.s[i]
		i = m
	}
}
