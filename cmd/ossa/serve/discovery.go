package serve

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ossa-platform/platform"
	"github.com/ossa-platform/platform/discovery"
	"github.com/ossa-platform/platform/events"
	"github.com/ossa-platform/platform/hnsw"
	"github.com/ossa-platform/platform/lexical"
	"github.com/ossa-platform/platform/openai"
	"github.com/ossa-platform/platform/postgres"
	"github.com/ossa-platform/platform/qdrant"
	"github.com/ossa-platform/platform/sqlite"
)

// Discovery is agent discovery as the platform runs it: the service the
// gateway and the engine ask, and the indexer that keeps its vector index
// in step (nil with OSSA_VECTOR_INDEX=none).
type Discovery struct {
	Service *discovery.Service
	Indexer *discovery.Indexer
	// Down is why discovery has no vector index although one was asked
	// for (the embeddings endpoint did not answer at start): /health
	// reports the embedder down.
	Down error
}

// openDiscovery builds agent discovery over db: the embedder
// (OSSA_EMBEDDINGS_URL, else the lexical one), the vector index
// (OSSA_VECTOR_INDEX), and the indexer, which it starts: it indexes each
// agent event of hub as it comes and re-indexes everything when the index
// is behind the registry (a new embedder, an index rebuilt in memory).
func (m *Main) openDiscovery(ctx context.Context, db Store, hub *events.Hub, reg *prometheus.Registry) (*Discovery, error) {
	d := &Discovery{Service: &discovery.Service{Agents: db, Text: db, Logger: m.Logger}}
	if m.Config.VectorIndex == "none" {
		m.Logger.Info("discovery ranks by words alone (OSSA_VECTOR_INDEX=none)")
		return d, nil
	}
	emb, err := m.openEmbedder(ctx)
	if err != nil {
		if platform.ErrorCode(err) != platform.EUNAVAILABLE {
			return nil, err
		}
		// The endpoint is down and the model's dimension unknown: no
		// vector index can be opened, so words alone rank until a restart
		// finds the endpoint (OSSA_EMBEDDINGS_DIMENSION avoids this).
		err = fmt.Errorf("discovery ranks by words alone: %w; set OSSA_EMBEDDINGS_DIMENSION so that agents are embedded once it answers", err)
		m.Logger.Error(err.Error())
		d.Down = err
		return d, nil
	}
	ix, err := m.openVectorIndex(ctx, db, emb)
	if err != nil {
		return nil, err
	}
	d.Service.Embedder, d.Service.Index = emb, ix
	x := &discovery.Indexer{Agents: db, Embedder: emb, Index: ix, Logger: m.Logger}
	d.Indexer = x
	labels := prometheus.Labels{"index": ix.Backend(), "model": emb.Model()}
	reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "ossa_discovery_index_documents", ConstLabels: labels,
			Help: "Agents in discovery's vector index."}, func() float64 {
			cctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond) // not while it loads
			defer cancel()
			n, _ := ix.Count(cctx)
			return float64(n)
		}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "ossa_discovery_index_reindexed", ConstLabels: labels,
			Help: "Agents the running (or last) re-index has embedded; ossa_discovery_index_reindex_total is how many it will."},
			func() float64 { done, _ := x.Progress(); return float64(done) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "ossa_discovery_index_reindex_total", ConstLabels: labels,
			Help: "Agents the running (or last) re-index embeds."},
			func() float64 { _, total := x.Progress(); return float64(total) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "ossa_discovery_embed_failures_total", ConstLabels: labels,
			Help: "Agents whose embedding failed; each is indexed by a later re-index."},
			func() float64 { return float64(x.Failed()) }),
	)
	agentEvents, err := platform.ParseChannel("agent-events")
	if err != nil {
		return nil, err
	}
	subscribe := func() (*events.Subscriber, error) {
		sub, err := hub.NewSubscriber() // every namespace
		if err != nil {
			return nil, err
		}
		sub.Subscribe("discovery", []platform.Channel{agentEvents})
		return sub, nil
	}
	sub, err := subscribe()
	if err != nil {
		return nil, err
	}
	changes := make(chan *platform.Event, 256)
	run, stop := context.WithCancel(context.WithoutCancel(ctx))
	x.Background = run
	done := make(chan struct{}, 2)
	var mu sync.Mutex // guards sub, which a drop replaces
	go func() {       // the hub's agent events, to the indexer
		defer func() { done <- struct{}{} }()
		defer close(changes)
		var buf []events.Delivery
		for {
			mu.Lock()
			s := sub
			mu.Unlock()
			select {
			case <-run.Done():
				return
			case <-s.Done():
				// Too slow for the hub: subscribe again, and let a
				// re-index find what was missed meanwhile.
				if run.Err() != nil {
					return
				}
				m.Logger.Warn("discovery: the indexer fell behind the agent events; re-indexing", "error", fmt.Sprint(s.Err()))
				next, err := subscribe()
				if err != nil {
					return // the hub is closed
				}
				mu.Lock()
				sub = next
				mu.Unlock()
				_, _ = x.StartReindex(run)
			case <-s.Ready():
				buf = s.Take(buf[:0])
				for _, dl := range buf {
					select {
					case changes <- dl.Event:
					case <-run.Done():
						return
					}
				}
			}
		}
	}()
	go func() { defer func() { done <- struct{}{} }(); x.Run(run, changes, m.Config.DiscoveryRetry) }()
	m.closers = append(m.closers, func() error {
		stop()
		mu.Lock()
		sub.Close()
		mu.Unlock()
		<-done
		<-done
		x.Wait()
		return nil
	})
	m.Logger.Info("discovery", "embedder", emb.Model(), "dimension", emb.Dimension(), "index", ix.Backend())
	return d, nil
}

// openEmbedder is the embedder of OSSA_EMBEDDINGS_URL, else the lexical
// one, which needs no model.
func (m *Main) openEmbedder(ctx context.Context) (platform.Embedder, error) {
	c := m.Config
	if c.EmbeddingsURL == "" {
		return lexical.New(lexical.DefaultDimension)
	}
	return openai.Open(ctx, openai.Config{URL: c.EmbeddingsURL, Model: c.EmbeddingsModel, APIKey: string(c.EmbeddingsAPIKey),
		Dimension: c.EmbeddingsDimension, Timeout: c.EmbeddingsTimeout})
}

// openVectorIndex is the vector index OSSA_VECTOR_INDEX names, for emb's
// vectors.
func (m *Main) openVectorIndex(ctx context.Context, db Store, emb platform.Embedder) (platform.VectorIndex, error) {
	c := m.Config
	switch {
	case c.VectorIndex == "qdrant" || (c.VectorIndex == "auto" && c.QdrantURL != ""):
		ix, err := qdrant.Open(ctx, qdrant.Config{URL: c.QdrantURL, APIKey: string(c.QdrantAPIKey), Model: emb.Model(), Dimension: emb.Dimension()})
		if err != nil {
			return nil, fmt.Errorf("QDRANT_URL: %w", err)
		}
		if ix.Recreated() {
			m.Logger.Info("discovery: the Qdrant collection was made for this embedder; re-indexing every agent", "collection", ix.Collection())
		}
		return ix, nil
	case c.VectorIndex == "pgvector" || c.VectorIndex == "auto":
		pg, ok := db.(*postgres.DB)
		if !ok {
			if c.VectorIndex == "pgvector" {
				return nil, fmt.Errorf("OSSA_VECTOR_INDEX=pgvector needs POSTGRES_URL")
			}
			break
		}
		have, err := pg.VectorAvailable(ctx)
		if err != nil {
			return nil, fmt.Errorf("discovery: asking PostgreSQL for pgvector: %w", err)
		}
		if !have {
			if c.VectorIndex == "pgvector" {
				return nil, fmt.Errorf("OSSA_VECTOR_INDEX=pgvector: PostgreSQL has no vector extension (install pgvector and CREATE EXTENSION vector as a superuser)")
			}
			m.Logger.Info("discovery: PostgreSQL has no pgvector; the vector index is embedded")
			break
		}
		return pg.OpenVectorIndex(ctx, emb.Model(), emb.Dimension())
	}
	// Embedded: persisted in the SQLite database, else (PostgreSQL
	// without pgvector) in memory alone, filled by a re-index at start.
	if lite, ok := db.(*sqlite.DB); ok {
		// Building the graph of many stored vectors takes a while (two
		// minutes at 100,000 on two cores): the gateway serves meanwhile.
		load, cancel := context.WithCancel(context.WithoutCancel(ctx))
		l := loadInBackground(emb.Dimension(), "embedded", func() (platform.VectorIndex, error) {
			ix, err := lite.OpenVectorIndex(load, emb.Model(), emb.Dimension(), hnsw.Options{})
			if err != nil {
				err = fmt.Errorf("discovery: the embedded vector index: %w", err)
				if load.Err() == nil {
					m.Logger.Error(err.Error())
				}
				return nil, err
			}
			n, _ := ix.Count(ctx)
			m.Logger.Info("discovery: the embedded vector index is loaded", "vectors", n, "took", ix.LoadTime().Round(time.Millisecond).String())
			return ix, nil
		})
		m.closers = append(m.closers, func() error { cancel(); <-l.ready; return nil })
		select { // a small index is ready before the gateway listens
		case <-l.ready:
		case <-time.After(2 * time.Second):
			m.Logger.Info("discovery: the embedded vector index is loading in the background; searches rank by words until it has")
		}
		return l, nil
	}
	return hnsw.New(emb.Dimension(), hnsw.Options{}), nil
}

// indexHealth reports a vector index to /health: its backend, and whether
// it answers.
type indexHealth struct{ ix platform.VectorIndex }

func (h indexHealth) Backend() string { return h.ix.Backend() }

func (h indexHealth) Ping(ctx context.Context) error {
	if p, ok := h.ix.(interface{ Ping(context.Context) error }); ok {
		return p.Ping(ctx)
	}
	_, err := h.ix.Count(ctx)
	return err
}

// embedderHealth reports discovery's embedder to /health: down while its
// last embedding failed.
type embedderHealth struct{ x *discovery.Indexer }

func (h embedderHealth) Backend() string { return h.x.Embedder.Model() }

func (h embedderHealth) Ping(context.Context) error { return h.x.Err() }

// downHealth is a dependency that is down for good, for /health.
type downHealth struct {
	backend string
	err     error
}

func (h downHealth) Backend() string { return h.backend }

func (h downHealth) Ping(context.Context) error { return h.err }

// loadingIndex is a vector index that opens in the background. Until it
// has, searches fail at once with EUNAVAILABLE (discovery then ranks by
// words) and /health says it is loading; writes and counts wait for it.
type loadingIndex struct {
	dim     int
	backend string
	ready   chan struct{}
	ix      platform.VectorIndex // set before ready closes
	err     error
}

var _ platform.VectorIndex = (*loadingIndex)(nil)

// loadInBackground returns the index open returns, opening it now in the
// background.
func loadInBackground(dim int, backend string, open func() (platform.VectorIndex, error)) *loadingIndex {
	l := &loadingIndex{dim: dim, backend: backend, ready: make(chan struct{})}
	go func() {
		defer close(l.ready)
		l.ix, l.err = open()
	}()
	return l
}

// wait waits for the index to open, or ctx to end.
func (l *loadingIndex) wait(ctx context.Context) (platform.VectorIndex, error) {
	select {
	case <-l.ready:
		return l.ix, l.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// now is the index if it has opened, else why not.
func (l *loadingIndex) now() (platform.VectorIndex, error) {
	select {
	case <-l.ready:
		return l.ix, l.err
	default:
		return nil, platform.Errorf(platform.EUNAVAILABLE, "the %s vector index is loading", l.backend)
	}
}

func (l *loadingIndex) Upsert(ctx context.Context, docs ...platform.VectorDoc) error {
	ix, err := l.wait(ctx)
	if err != nil {
		return err
	}
	return ix.Upsert(ctx, docs...)
}

func (l *loadingIndex) Delete(ctx context.Context, ids ...string) error {
	ix, err := l.wait(ctx)
	if err != nil {
		return err
	}
	return ix.Delete(ctx, ids...)
}

func (l *loadingIndex) Search(ctx context.Context, q platform.VectorQuery) ([]platform.VectorHit, error) {
	ix, err := l.now()
	if err != nil {
		return nil, err
	}
	return ix.Search(ctx, q)
}

func (l *loadingIndex) Count(ctx context.Context) (int, error) {
	ix, err := l.wait(ctx)
	if err != nil {
		return 0, err
	}
	return ix.Count(ctx)
}

func (l *loadingIndex) Dimension() int { return l.dim }

func (l *loadingIndex) Backend() string { return l.backend }

// Ping reports the index down while it loads or when it failed to open.
func (l *loadingIndex) Ping(ctx context.Context) error {
	ix, err := l.now()
	if err != nil {
		return err
	}
	_, err = ix.Count(ctx)
	return err
}
