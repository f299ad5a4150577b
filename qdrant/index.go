package qdrant

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/ossa-platform/platform"
)

// Config opens an Index. Environment variables name the fields the
// gateway fills from them.
type Config struct {
	// URL is Qdrant's base URL (QDRANT_URL); required.
	URL string
	// APIKey is sent in the api-key header when set (QDRANT_API_KEY);
	// none by default.
	APIKey string
	// Collection is the collection the agents are kept in;
	// "ossa_agents" when empty.
	Collection string
	// Model names the embedder whose vectors the index holds; required.
	// The collection records it: another model empties the collection.
	Model string
	// Dimension is the length of the vectors; required. The collection
	// records it too: another dimension empties the collection.
	Dimension int
	// Timeout bounds each request to Qdrant; 10s when 0.
	Timeout time.Duration
	// HTTPClient sends the requests; a client of its own when nil.
	HTTPClient *http.Client
}

// DefaultCollection is the collection the agents are kept in unless
// Config.Collection names another.
const DefaultCollection = "ossa_agents"

// WithDefaults returns c with the defaults of the fields left empty.
func (c Config) WithDefaults() Config {
	if c.Collection == "" {
		c.Collection = DefaultCollection
	}
	if c.Timeout <= 0 {
		c.Timeout = 10 * time.Second
	}
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{}
	}
	return c
}

// Validate reports a config Open cannot use, naming the variable.
func (c Config) Validate() error {
	var p platform.Problems
	if u, err := url.Parse(c.URL); c.URL == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		p.Add("QDRANT_URL", "must be an http(s) URL such as http://localhost:6333, not %q", c.URL)
	}
	if c.Model == "" {
		p.Add("model", "is required: the collection records the embedder's model")
	}
	if c.Dimension < 1 {
		p.Add("dimension", "must be at least 1, not %d", c.Dimension)
	}
	if c.Collection == "" || len(c.Collection) > 255 || url.PathEscape(c.Collection) != c.Collection {
		p.Add("collection", "must be 1 to 255 characters that need no escaping in a URL path, not %q", c.Collection)
	}
	return p.Err("the Qdrant index cannot be opened")
}

// Index is a platform.VectorIndex in one Qdrant collection of
// cosine-distance vectors. Each agent is one point whose payload holds
// what the filters need; docs/qdrant.md describes the layout.
type Index struct {
	client     *Client
	collection string
	model      string
	dim        int
	// recreated is set when Open dropped a collection of another model
	// or dimension.
	recreated bool
}

var _ platform.VectorIndex = (*Index)(nil)

// The collection's metadata records what it holds, and the payload
// fields the filters use, each with a keyword index.
const (
	metaModel     = "ossa_model"
	metaDimension = "ossa_dimension"
	metaLayout    = "ossa_layout"
	layout        = 1

	fieldID           = "agent_id"
	fieldNamespace    = "namespace"
	fieldType         = "type"
	fieldStatus       = "status"
	fieldCapabilities = "capabilities"
	fieldLabels       = "labels"
	fieldLabelPairs   = "label_pairs"
)

// indexedFields are the payload fields Open gives a keyword index.
var indexedFields = []string{fieldNamespace, fieldType, fieldStatus, fieldCapabilities, fieldLabelPairs}

// Open returns the index in cfg's collection, creating the collection
// when it is absent. A collection OSSA made for another model or
// dimension is dropped and made again, empty, so the indexer re-indexes
// every agent; a collection OSSA did not make is ECONFLICT, left as it
// is. Qdrant out of reach is EUNAVAILABLE.
func Open(ctx context.Context, cfg Config) (*Index, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	x := &Index{
		client:     &Client{URL: cfg.URL, APIKey: cfg.APIKey, HTTPClient: cfg.HTTPClient, Timeout: cfg.Timeout},
		collection: cfg.Collection, model: cfg.Model, dim: cfg.Dimension,
	}
	// Another replica may create or recreate the collection between our
	// steps: read it again after each change.
	for range 4 {
		info, err := x.info(ctx)
		switch {
		case platform.ErrorCode(err) == platform.ENOTFOUND:
			if err := x.create(ctx); err != nil {
				// Another replica may have made it first (409 or 400,
				// as Qdrant's versions say it): read it again.
				if _, again := x.info(ctx); again != nil {
					return nil, err
				}
			}
			continue
		case err != nil:
			return nil, err
		}
		if !info.ours() {
			return nil, platform.Errorf(platform.ECONFLICT, "qdrant: the collection %q exists and OSSA did not make it "+
				"(its metadata has no %s); name another collection, or drop it", x.collection, metaModel)
		}
		if !info.holds(x.model, x.dim) {
			if err := x.Drop(ctx); err != nil && platform.ErrorCode(err) != platform.ENOTFOUND {
				return nil, err
			}
			x.recreated = true
			continue
		}
		if err := x.ensureFieldIndexes(ctx, info); err != nil {
			return nil, err
		}
		return x, nil
	}
	return nil, platform.Errorf(platform.ECONFLICT, "qdrant: the collection %q keeps changing while it is opened: "+
		"do replicas with another embedder share it?", x.collection)
}

// Recreated reports whether Open found the collection made for another
// model or dimension and made it again, empty.
func (x *Index) Recreated() bool { return x.recreated }

// Collection names the Qdrant collection the index is kept in.
func (x *Index) Collection() string { return x.collection }

// Model names the embedder whose vectors the index holds.
func (x *Index) Model() string { return x.model }

// Dimension is the length of the index's vectors.
func (x *Index) Dimension() int { return x.dim }

// Backend returns "qdrant".
func (x *Index) Backend() string { return "qdrant" }

// Ping checks Qdrant's health endpoint.
func (x *Index) Ping(ctx context.Context) error { return x.client.Ping(ctx) }

// Drop deletes the collection and every point in it.
func (x *Index) Drop(ctx context.Context) error {
	var ok bool
	if _, err := x.client.do(ctx, http.MethodDelete, x.path(""), nil, &ok); err != nil {
		return fmt.Errorf("drop the collection %q: %w", x.collection, err)
	}
	return nil
}

func (x *Index) path(suffix string) string {
	return "/collections/" + url.PathEscape(x.collection) + suffix
}

// collectionInfo is the part of GET /collections/{name} Open reads.
type collectionInfo struct {
	Config struct {
		Params struct {
			// Vectors is one VectorParams for an unnamed vector; a
			// collection of named vectors leaves Size 0.
			Vectors struct {
				Size     int    `json:"size"`
				Distance string `json:"distance"`
			} `json:"vectors"`
		} `json:"params"`
		Metadata map[string]any `json:"metadata"`
	} `json:"config"`
	PayloadSchema map[string]struct {
		DataType string `json:"data_type"`
	} `json:"payload_schema"`
}

func (c *collectionInfo) ours() bool {
	_, ok := c.Config.Metadata[metaModel].(string)
	return ok
}

func (c *collectionInfo) holds(model string, dim int) bool {
	m := c.Config.Metadata
	d, _ := m[metaDimension].(float64)
	l, _ := m[metaLayout].(float64)
	v := c.Config.Params.Vectors
	return m[metaModel] == model && int(d) == dim && int(l) == layout && v.Size == dim && v.Distance == "Cosine"
}

func (x *Index) info(ctx context.Context) (*collectionInfo, error) {
	var info collectionInfo
	if _, err := x.client.do(ctx, http.MethodGet, x.path(""), nil, &info); err != nil {
		return nil, fmt.Errorf("read the collection %q: %w", x.collection, err)
	}
	return &info, nil
}

func (x *Index) create(ctx context.Context) error {
	body := map[string]any{
		"vectors":  map[string]any{"size": x.dim, "distance": "Cosine"},
		"metadata": map[string]any{metaModel: x.model, metaDimension: x.dim, metaLayout: layout},
	}
	var ok bool
	if _, err := x.client.do(ctx, http.MethodPut, x.path(""), body, &ok); err != nil {
		return fmt.Errorf("create the collection %q: %w", x.collection, err)
	}
	return nil
}

// ensureFieldIndexes gives each filtered payload field a keyword index,
// unless it has one already.
func (x *Index) ensureFieldIndexes(ctx context.Context, info *collectionInfo) error {
	for _, f := range indexedFields {
		if s, ok := info.PayloadSchema[f]; ok && s.DataType == "keyword" {
			continue
		}
		var res updateResult
		body := map[string]any{"field_name": f, "field_schema": "keyword"}
		if _, err := x.client.do(ctx, http.MethodPut, x.path("/index?wait=true"), body, &res); err != nil {
			return fmt.Errorf("index the payload field %s of %q: %w", f, x.collection, err)
		}
	}
	return nil
}

// updateResult is the result of a change.
type updateResult struct {
	Status string `json:"status"`
}

// idSpace is the namespace of the UUID v5 point IDs of agent IDs that are
// not UUIDs themselves.
var idSpace = uuid.NewSHA1(uuid.NameSpaceURL, []byte("https://ossa.ai/platform/qdrant/agent-id"))

// PointID is the Qdrant point ID of an agent ID: the ID itself when it is
// a UUID (as the stores make them), else the UUID v5 of it, for Qdrant
// takes only UUIDs and unsigned integers. The payload keeps the agent ID.
func PointID(id string) string {
	if platform.LooksLikeID(id) {
		return id
	}
	return uuid.NewSHA1(idSpace, []byte(id)).String()
}

// upsertBatch is how many points one request carries at most.
const upsertBatch = 256

// Upsert stores docs, replacing those with the same IDs, and returns once
// Qdrant has applied the change (wait=true). A vector of another
// dimension refuses the whole call, before anything is sent.
func (x *Index) Upsert(ctx context.Context, docs ...platform.VectorDoc) error {
	if err := platform.CheckVectorDocs(x.dim, docs); err != nil {
		return err
	}
	// The last of one ID wins, as in the reference index.
	last := make(map[string]int, len(docs))
	for i, d := range docs {
		last[d.ID] = i
	}
	points := make([]map[string]any, 0, len(last))
	for i, d := range docs {
		if last[d.ID] == i {
			points = append(points, point(&d))
		}
	}
	for len(points) > 0 {
		n := min(len(points), upsertBatch)
		var res updateResult
		if _, err := x.client.do(ctx, http.MethodPut, x.path("/points?wait=true"), map[string]any{"points": points[:n]}, &res); err != nil {
			return fmt.Errorf("upsert %d points into %q: %w", n, x.collection, err)
		}
		points = points[n:]
	}
	return nil
}

// point is the PointStruct of d.
func point(d *platform.VectorDoc) map[string]any {
	caps := d.Capabilities
	if caps == nil {
		caps = []string{}
	}
	labels := map[string]string{}
	pairs := []string{}
	for k, v := range d.Labels {
		labels[k] = v
		pairs = append(pairs, labelPair(k, v))
	}
	slices.Sort(pairs)
	return map[string]any{
		"id":     PointID(d.ID),
		"vector": d.Vector,
		"payload": map[string]any{
			fieldID: d.ID, fieldNamespace: d.Namespace, fieldType: string(d.Type), fieldStatus: string(d.Status),
			fieldCapabilities: caps, fieldLabels: labels, fieldLabelPairs: pairs,
		},
	}
}

// labelPair is the keyword a label is filtered by: label keys cannot hold
// "=", so "key=value" names one pair, and no key needs a JSON path (keys
// may hold dots, which Qdrant's paths would read as nesting).
func labelPair(k, v string) string { return k + "=" + v }

// Delete removes the documents with these IDs; unknown IDs are ignored.
func (x *Index) Delete(ctx context.Context, ids ...string) error {
	for len(ids) > 0 {
		n := min(len(ids), upsertBatch)
		points := make([]string, 0, n)
		for _, id := range ids[:n] {
			points = append(points, PointID(id))
		}
		var res updateResult
		if _, err := x.client.do(ctx, http.MethodPost, x.path("/points/delete?wait=true"), map[string]any{"points": points}, &res); err != nil {
			return fmt.Errorf("delete %d points from %q: %w", n, x.collection, err)
		}
		ids = ids[n:]
	}
	return nil
}

// Count is how many documents the index holds (an exact count).
func (x *Index) Count(ctx context.Context) (int, error) {
	var res struct {
		Count int `json:"count"`
	}
	if _, err := x.client.do(ctx, http.MethodPost, x.path("/points/count"), map[string]any{"exact": true}, &res); err != nil {
		return 0, fmt.Errorf("count the points of %q: %w", x.collection, err)
	}
	return res.Count, nil
}

// filterOf is the Qdrant filter of q's namespaces and filters, nil when q
// has none; ok is false when q can match nothing (no namespace).
func filterOf(q *platform.VectorQuery) (filter map[string]any, ok bool) {
	var must []map[string]any
	if len(q.Namespaces) == 0 {
		return nil, false
	}
	if !slices.Contains(q.Namespaces, platform.AllNamespaces) {
		ns := slices.Clone(q.Namespaces)
		slices.Sort(ns)
		must = append(must, matchAny(fieldNamespace, slices.Compact(ns)))
	}
	if q.Type != "" {
		must = append(must, matchValue(fieldType, string(q.Type)))
	}
	if q.Status != "" {
		must = append(must, matchValue(fieldStatus, string(q.Status)))
	}
	if q.Capability != "" {
		must = append(must, matchValue(fieldCapabilities, q.Capability))
	}
	keys := make([]string, 0, len(q.Labels))
	for k := range q.Labels {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		must = append(must, matchValue(fieldLabelPairs, labelPair(k, q.Labels[k])))
	}
	if len(must) == 0 {
		return nil, true
	}
	return map[string]any{"must": must}, true
}

func matchValue(key, v string) map[string]any {
	return map[string]any{"key": key, "match": map[string]any{"value": v}}
}

func matchAny(key string, vs []string) map[string]any {
	return map[string]any{"key": key, "match": map[string]any{"any": vs}}
}

// scoredPoint is one point of a query's answer.
type scoredPoint struct {
	Score   float32 `json:"score"`
	Payload struct {
		ID        string `json:"agent_id"`
		Namespace string `json:"namespace"`
	} `json:"payload"`
}

// Search returns the documents nearest q.Vector that match q's filters,
// best first, ties by ID. Qdrant orders ties as it likes, so Search asks
// for one point more than it needs and, while the last point it got ties
// the last it needs, for twice as many: the ties are then all in hand to
// order by ID.
func (x *Index) Search(ctx context.Context, q platform.VectorQuery) ([]platform.VectorHit, error) {
	if err := q.Validate(x.dim); err != nil {
		return nil, err
	}
	filter, ok := filterOf(&q)
	if !ok {
		return []platform.VectorHit{}, nil
	}
	body := map[string]any{"query": q.Vector, "with_payload": []string{fieldID, fieldNamespace}}
	if filter != nil {
		body["filter"] = filter
	}
	if q.Exact {
		body["params"] = map[string]any{"exact": true}
	}
	for n := q.Limit + 1; ; n *= 2 {
		body["limit"] = n
		var res struct {
			Points []scoredPoint `json:"points"`
		}
		if _, err := x.client.do(ctx, http.MethodPost, x.path("/points/query"), body, &res); err != nil {
			return nil, fmt.Errorf("search %q: %w", x.collection, err)
		}
		hits := make([]platform.VectorHit, 0, len(res.Points))
		for _, p := range res.Points {
			if p.Payload.ID == "" {
				return nil, platform.Errorf(platform.EUNAVAILABLE, "qdrant: a point of %q has no %s in its payload", x.collection, fieldID)
			}
			hits = append(hits, platform.VectorHit{ID: p.Payload.ID, Namespace: p.Payload.Namespace, Score: p.Score})
		}
		platform.SortVectorHits(hits)
		if len(hits) < n || hits[q.Limit-1].Score > hits[len(hits)-1].Score {
			return hits[:min(len(hits), q.Limit)], nil
		}
	}
}
