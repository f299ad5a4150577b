package qdrant

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"
)

// emulator is a test-only Qdrant: the REST operations the adapter uses,
// with their semantics (points in memory, exact cosine search, the
// filter conditions the adapter writes), behind a server that validates
// every request it receives and every answer it sends against the schemas
// of Qdrant's API document. A request the emulator does not implement
// fails the test as loudly as an invalid one: nothing is ignored.
type emulator struct {
	t      testing.TB
	spec   *spec
	apiKey string
	srv    *httptest.Server

	mu          sync.Mutex
	collections map[string]*collection
	// invalid collects the requests the document refused; the test fails
	// on them unless it expects them (expectInvalid).
	invalid       []string
	expectInvalid bool
}

// collection is one emulated collection.
type collection struct {
	size     int
	distance string
	metadata map[string]any
	indexes  map[string]string
	points   map[string]*epoint
	ops      uint64
}

// epoint is one stored point; Qdrant normalises the vectors of a Cosine
// collection when it stores them.
type epoint struct {
	id      any
	vector  []float32
	payload map[string]any
	version uint64
}

// newEmulator starts an emulator closed when the test ends. With an API
// key, it refuses requests without it, as Qdrant does.
func newEmulator(t testing.TB, apiKey string) *emulator {
	e := &emulator{t: t, spec: loadSpec(t), apiKey: apiKey, collections: map[string]*collection{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", e.handleHealthz)
	mux.HandleFunc("GET /collections/{name}", e.handleCollectionGet)
	mux.HandleFunc("PUT /collections/{name}", e.handleCollectionCreate)
	mux.HandleFunc("DELETE /collections/{name}", e.handleCollectionDelete)
	mux.HandleFunc("PUT /collections/{name}/index", e.handleFieldIndex)
	mux.HandleFunc("PUT /collections/{name}/points", e.handleUpsert)
	mux.HandleFunc("POST /collections/{name}/points/delete", e.handleDelete)
	mux.HandleFunc("POST /collections/{name}/points/query", e.handleQuery)
	mux.HandleFunc("POST /collections/{name}/points/count", e.handleCount)
	e.srv = httptest.NewServer(e.validating(mux))
	t.Cleanup(func() {
		e.srv.Close()
		e.mu.Lock()
		defer e.mu.Unlock()
		if !e.expectInvalid {
			for _, msg := range e.invalid {
				t.Errorf("emulator: %s", msg)
			}
		}
	})
	return e
}

// URL is the emulator's base URL.
func (e *emulator) URL() string { return e.srv.URL }

// apiError is an answer of Qdrant's error shape.
type apiError struct {
	status int
	msg    string
}

func (e *emulator) refuse(status int, format string, args ...any) *apiError {
	return &apiError{status, fmt.Sprintf(format, args...)}
}

// validating checks the API key, validates the request against the
// document (refusing an invalid one with 400, as Qdrant refuses a body it
// cannot deserialise), runs the handler into a buffer, and validates its
// answer before sending it: an answer the document refuses fails the test.
func (e *emulator) validating(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 64<<20))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		if e.apiKey != "" && r.URL.Path != "/healthz" && r.Header.Get("api-key") != e.apiKey {
			w.Header().Set("Content-Type", "text/plain")
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = io.WriteString(w, "Must provide an API key or an Authorization bearer token")
			return
		}
		if _, err := e.spec.checkRequest(r.Method, r.URL.Path, r.URL.Query(), r.Header.Get("Content-Type"), body); err != nil {
			e.mu.Lock()
			e.invalid = append(e.invalid, err.Error())
			e.mu.Unlock()
			e.writeError(w, r, &apiError{http.StatusBadRequest, "Json deserialize error: " + err.Error()})
			return
		}
		rec := httptest.NewRecorder()
		next.ServeHTTP(rec, r)
		if err := e.spec.checkResponse(r.Method, r.URL.Path, rec.Code, rec.Header().Get("Content-Type"), rec.Body.Bytes()); err != nil {
			e.t.Errorf("emulator answered against the document: %v", err)
		}
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
	})
}

// write answers with Qdrant's envelope around result, or its error.
func (e *emulator) write(w http.ResponseWriter, r *http.Request, result any, aerr *apiError) {
	if aerr != nil {
		e.writeError(w, r, aerr)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"result": result, "status": "ok", "time": 0.000125})
}

func (e *emulator) writeError(w http.ResponseWriter, _ *http.Request, aerr *apiError) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(aerr.status)
	_ = json.NewEncoder(w).Encode(map[string]any{"status": map[string]any{"error": aerr.msg}, "time": 0.000125})
}

// decode reads the JSON body into a generic value and refuses the fields
// the emulator does not implement.
func decode(r *http.Request, supported ...string) (map[string]any, *apiError) {
	var m map[string]any
	d := json.NewDecoder(r.Body)
	if err := d.Decode(&m); err != nil {
		return nil, &apiError{http.StatusBadRequest, "Json deserialize error: " + err.Error()}
	}
	for k := range m {
		if !slices.Contains(supported, k) {
			return nil, &apiError{http.StatusNotImplemented, "emulator: the field " + k + " is not implemented"}
		}
	}
	return m, nil
}

// collection finds the collection of the request, under e.mu.
func (e *emulator) collection(r *http.Request) (*collection, *apiError) {
	name := r.PathValue("name")
	c, ok := e.collections[name]
	if !ok {
		return nil, &apiError{http.StatusNotFound, fmt.Sprintf("Not found: Collection `%s` doesn't exist!", name)}
	}
	return c, nil
}

// handleHealthz handles "GET /healthz".
func (e *emulator) handleHealthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain")
	_, _ = io.WriteString(w, "healthz check passed")
}

// handleCollectionCreate handles "PUT /collections/{name}".
func (e *emulator) handleCollectionCreate(w http.ResponseWriter, r *http.Request) {
	e.mu.Lock()
	defer e.mu.Unlock()
	body, aerr := decode(r, "vectors", "metadata")
	if aerr != nil {
		e.write(w, r, nil, aerr)
		return
	}
	name := r.PathValue("name")
	if _, ok := e.collections[name]; ok {
		e.write(w, r, nil, e.refuse(http.StatusConflict, "Wrong input: Collection `%s` already exists!", name))
		return
	}
	v, _ := body["vectors"].(map[string]any)
	size, _ := v["size"].(float64)
	dist, _ := v["distance"].(string)
	if size == 0 || dist == "" {
		e.write(w, r, nil, e.refuse(http.StatusNotImplemented, "emulator: only one unnamed vector per point is implemented"))
		return
	}
	meta, _ := body["metadata"].(map[string]any)
	e.collections[name] = &collection{size: int(size), distance: dist, metadata: meta, indexes: map[string]string{}, points: map[string]*epoint{}}
	e.write(w, r, true, nil)
}

// handleCollectionGet handles "GET /collections/{name}".
func (e *emulator) handleCollectionGet(w http.ResponseWriter, r *http.Request) {
	e.mu.Lock()
	defer e.mu.Unlock()
	c, aerr := e.collection(r)
	if aerr != nil {
		e.write(w, r, nil, aerr)
		return
	}
	schema := map[string]any{}
	for f, typ := range c.indexes {
		n := 0
		for _, p := range c.points {
			if _, ok := lookup(p.payload, f); ok {
				n++
			}
		}
		schema[f] = map[string]any{"data_type": typ, "points": n}
	}
	config := map[string]any{
		"params":           map[string]any{"vectors": map[string]any{"size": c.size, "distance": c.distance}, "shard_number": 1, "replication_factor": 1, "write_consistency_factor": 1, "on_disk_payload": true},
		"hnsw_config":      map[string]any{"m": 16, "ef_construct": 100, "full_scan_threshold": 10000, "max_indexing_threads": 0, "on_disk": false},
		"optimizer_config": map[string]any{"deleted_threshold": 0.2, "vacuum_min_vector_number": 1000, "default_segment_number": 0, "max_segment_size": nil, "indexing_threshold": 10000, "flush_interval_sec": 5, "max_optimization_threads": nil},
		"wal_config":       map[string]any{"wal_capacity_mb": 32, "wal_segments_ahead": 0},
	}
	if c.metadata != nil {
		config["metadata"] = c.metadata
	}
	e.write(w, r, map[string]any{
		"status": "green", "optimizer_status": "ok", "segments_count": 1,
		"points_count": len(c.points), "indexed_vectors_count": 0,
		"config": config, "payload_schema": schema,
	}, nil)
}

// handleCollectionDelete handles "DELETE /collections/{name}": true when
// it was there.
func (e *emulator) handleCollectionDelete(w http.ResponseWriter, r *http.Request) {
	e.mu.Lock()
	defer e.mu.Unlock()
	name := r.PathValue("name")
	_, ok := e.collections[name]
	delete(e.collections, name)
	e.write(w, r, ok, nil)
}

// handleFieldIndex handles "PUT /collections/{name}/index".
func (e *emulator) handleFieldIndex(w http.ResponseWriter, r *http.Request) {
	e.mu.Lock()
	defer e.mu.Unlock()
	c, aerr := e.collection(r)
	if aerr == nil {
		var body map[string]any
		if body, aerr = decode(r, "field_name", "field_schema"); aerr == nil {
			f, _ := body["field_name"].(string)
			typ, ok := body["field_schema"].(string)
			if !ok {
				aerr = e.refuse(http.StatusNotImplemented, "emulator: only a field_schema of a type name is implemented")
			} else {
				c.indexes[f] = typ
			}
		}
	}
	e.write(w, r, e.update(c, r), aerr)
}

// update is the UpdateResult of a change to c.
func (e *emulator) update(c *collection, r *http.Request) map[string]any {
	if c == nil {
		return nil
	}
	c.ops++
	status := "acknowledged"
	if r.URL.Query().Get("wait") == "true" {
		status = "completed"
	}
	return map[string]any{"operation_id": c.ops, "status": status}
}

// pointKey is the canonical text of a point ID: the integer, or the
// UUID in its hyphenated lower-case form.
func pointKey(id any) (string, any, bool) {
	switch v := id.(type) {
	case float64:
		return fmt.Sprintf("%d", uint64(v)), uint64(v), true
	case string:
		u, err := uuid.Parse(v)
		if err != nil {
			return "", nil, false
		}
		return u.String(), u.String(), true
	}
	return "", nil, false
}

// handleUpsert handles "PUT /collections/{name}/points": the points list
// form. The whole batch is checked before any point is stored.
func (e *emulator) handleUpsert(w http.ResponseWriter, r *http.Request) {
	e.mu.Lock()
	defer e.mu.Unlock()
	c, aerr := e.collection(r)
	if aerr != nil {
		e.write(w, r, nil, aerr)
		return
	}
	body, aerr := decode(r, "points")
	if aerr != nil {
		e.write(w, r, nil, aerr)
		return
	}
	points, _ := body["points"].([]any)
	var stored []*epoint
	var keys []string
	for _, p := range points {
		pm, _ := p.(map[string]any)
		key, id, ok := pointKey(pm["id"])
		if !ok {
			e.write(w, r, nil, e.refuse(http.StatusBadRequest, "Wrong input: bad point id"))
			return
		}
		vec, ok := pm["vector"].([]any)
		if !ok {
			e.write(w, r, nil, e.refuse(http.StatusNotImplemented, "emulator: only unnamed dense vectors are implemented"))
			return
		}
		if len(vec) != c.size {
			e.write(w, r, nil, e.refuse(http.StatusBadRequest, "Wrong input: Vector dimension error: expected dim: %d, got %d", c.size, len(vec)))
			return
		}
		v := make([]float32, len(vec))
		for i, x := range vec {
			f, _ := x.(float64)
			v[i] = float32(f)
		}
		if c.distance == "Cosine" {
			normalise(v)
		}
		payload, _ := pm["payload"].(map[string]any)
		stored = append(stored, &epoint{id: id, vector: v, payload: payload})
		keys = append(keys, key)
	}
	res := e.update(c, r)
	for i, p := range stored {
		p.version = c.ops
		c.points[keys[i]] = p
	}
	e.write(w, r, res, nil)
}

func normalise(v []float32) {
	var n float64
	for _, x := range v {
		n += float64(x) * float64(x)
	}
	if n == 0 {
		return
	}
	inv := 1 / math.Sqrt(n)
	for i := range v {
		v[i] = float32(float64(v[i]) * inv)
	}
}

// handleDelete handles "POST /collections/{name}/points/delete": by IDs.
func (e *emulator) handleDelete(w http.ResponseWriter, r *http.Request) {
	e.mu.Lock()
	defer e.mu.Unlock()
	c, aerr := e.collection(r)
	if aerr != nil {
		e.write(w, r, nil, aerr)
		return
	}
	body, aerr := decode(r, "points")
	if aerr != nil {
		e.write(w, r, nil, aerr)
		return
	}
	ids, _ := body["points"].([]any)
	for _, id := range ids {
		if key, _, ok := pointKey(id); ok {
			delete(c.points, key)
		}
	}
	e.write(w, r, e.update(c, r), nil)
}

// handleCount handles "POST /collections/{name}/points/count".
func (e *emulator) handleCount(w http.ResponseWriter, r *http.Request) {
	e.mu.Lock()
	defer e.mu.Unlock()
	c, aerr := e.collection(r)
	if aerr != nil {
		e.write(w, r, nil, aerr)
		return
	}
	body, aerr := decode(r, "exact", "filter")
	if aerr != nil {
		e.write(w, r, nil, aerr)
		return
	}
	n := 0
	for _, p := range c.points {
		ok, aerr := matches(body["filter"], p.payload)
		if aerr != nil {
			e.write(w, r, nil, aerr)
			return
		}
		if ok {
			n++
		}
	}
	e.write(w, r, map[string]any{"count": n}, nil)
}

// handleQuery handles "POST /collections/{name}/points/query": the
// nearest points to a dense vector, with a filter, compared with every
// point (the emulator is exact whether params.exact is set or not).
// Points of one score come in the order of their IDs' text, descending:
// Qdrant promises no order among ties, and this one is not the agents'.
func (e *emulator) handleQuery(w http.ResponseWriter, r *http.Request) {
	e.mu.Lock()
	defer e.mu.Unlock()
	c, aerr := e.collection(r)
	if aerr != nil {
		e.write(w, r, nil, aerr)
		return
	}
	body, aerr := decode(r, "query", "filter", "limit", "offset", "with_payload", "params")
	if aerr != nil {
		e.write(w, r, nil, aerr)
		return
	}
	if params, ok := body["params"].(map[string]any); ok {
		for k := range params {
			if k != "exact" {
				e.write(w, r, nil, e.refuse(http.StatusNotImplemented, "emulator: the search parameter %s is not implemented", k))
				return
			}
		}
	}
	qv, ok := body["query"].([]any)
	if !ok {
		e.write(w, r, nil, e.refuse(http.StatusNotImplemented, "emulator: only a dense vector query is implemented"))
		return
	}
	if len(qv) != c.size {
		e.write(w, r, nil, e.refuse(http.StatusBadRequest, "Wrong input: Vector dimension error: expected dim: %d, got %d", c.size, len(qv)))
		return
	}
	q := make([]float32, len(qv))
	for i, x := range qv {
		f, _ := x.(float64)
		q[i] = float32(f)
	}
	if c.distance == "Cosine" {
		normalise(q)
	}
	limit, offset := 10, 0
	if l, ok := body["limit"].(float64); ok {
		limit = int(l)
	}
	if o, ok := body["offset"].(float64); ok {
		offset = int(o)
	}
	type scored struct {
		key   string
		p     *epoint
		score float32
	}
	var all []scored
	for key, p := range c.points {
		ok, aerr := matches(body["filter"], p.payload)
		if aerr != nil {
			e.write(w, r, nil, aerr)
			return
		}
		if ok {
			var dot float32
			for i := range q {
				dot += q[i] * p.vector[i]
			}
			all = append(all, scored{key, p, dot})
		}
	}
	sort.Slice(all, func(i, j int) bool {
		if all[i].score != all[j].score {
			return all[i].score > all[j].score
		}
		return all[i].key > all[j].key
	})
	all = all[min(offset, len(all)):]
	all = all[:min(limit, len(all))]
	points := []any{}
	for _, s := range all {
		sp := map[string]any{"id": s.p.id, "version": s.p.version, "score": s.score}
		if pl := selectPayload(body["with_payload"], s.p.payload); pl != nil {
			sp["payload"] = pl
		}
		points = append(points, sp)
	}
	e.write(w, r, map[string]any{"points": points}, nil)
}

// selectPayload is the payload with_payload asks for: none by default or
// for false, all for true, the named top-level fields for a list.
func selectPayload(with any, payload map[string]any) map[string]any {
	switch v := with.(type) {
	case bool:
		if v {
			return payload
		}
	case []any:
		out := map[string]any{}
		for _, f := range v {
			k, _ := f.(string)
			if x, ok := payload[k]; ok {
				out[k] = x
			}
		}
		return out
	}
	return nil
}

// lookup follows a dotted key into a payload.
func lookup(payload map[string]any, key string) (any, bool) {
	var cur any = payload
	for _, part := range strings.Split(key, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[part]; !ok {
			return nil, false
		}
	}
	return cur, true
}

// matches reports whether a payload passes a Filter (nil: every one):
// must, should and must_not of field conditions that match a value or
// any of values; a condition on an array holds when one element does, as
// in Qdrant.
func matches(filter any, payload map[string]any) (bool, *apiError) {
	if filter == nil {
		return true, nil
	}
	f, _ := filter.(map[string]any)
	conds := func(k string) []any {
		switch v := f[k].(type) {
		case []any:
			return v
		case map[string]any:
			return []any{v}
		}
		return nil
	}
	for k := range f {
		if k != "must" && k != "should" && k != "must_not" {
			return false, &apiError{http.StatusNotImplemented, "emulator: the filter clause " + k + " is not implemented"}
		}
	}
	for _, c := range conds("must") {
		ok, aerr := condition(c, payload)
		if aerr != nil || !ok {
			return false, aerr
		}
	}
	for _, c := range conds("must_not") {
		ok, aerr := condition(c, payload)
		if aerr != nil || ok {
			return false, aerr
		}
	}
	if should := conds("should"); len(should) > 0 {
		for _, c := range should {
			ok, aerr := condition(c, payload)
			if aerr != nil || ok {
				return ok, aerr
			}
		}
		return false, nil
	}
	return true, nil
}

func condition(c any, payload map[string]any) (bool, *apiError) {
	m, _ := c.(map[string]any)
	key, _ := m["key"].(string)
	match, _ := m["match"].(map[string]any)
	if key == "" || match == nil || len(m) != 2 {
		return false, &apiError{http.StatusNotImplemented, "emulator: only field conditions with match are implemented"}
	}
	var want []any
	switch {
	case match["value"] != nil && len(match) == 1:
		want = []any{match["value"]}
	case match["any"] != nil && len(match) == 1:
		want, _ = match["any"].([]any)
	default:
		return false, &apiError{http.StatusNotImplemented, "emulator: only match value and match any are implemented"}
	}
	got, ok := lookup(payload, key)
	if !ok {
		return false, nil
	}
	values, isArray := got.([]any)
	if !isArray {
		values = []any{got}
	}
	for _, v := range values {
		if slices.Contains(want, v) {
			return true, nil
		}
	}
	return false, nil
}
