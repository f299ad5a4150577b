package discovery

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ossa-platform/platform"
)

// Indexer keeps a vector index in step with the registry: it embeds the
// agents that change (Sync, fed by the agent events the store committed
// with each change) and, on demand or when the index holds fewer agents
// than the registry (a new embedder, a new index, a crash between a
// change and its indexing), every agent (Reindex). An agent whose
// embedding fails is indexed at the next Reindex; until then the words
// still find it.
type Indexer struct {
	Agents   platform.AgentStore
	Embedder platform.Embedder
	Index    platform.VectorIndex
	Logger   *slog.Logger
	// BatchSize is how many agents are embedded at once; 32 when 0.
	BatchSize int
	// Background is the context StartReindex's re-indexes run under,
	// whose end stops them (Wait waits for them); without it they run
	// beyond the context of their caller to the end.
	Background context.Context

	// background counts StartReindex's running re-index.
	background sync.WaitGroup

	// done and total count Reindex's progress; failed counts agents
	// whose embedding failed since the start.
	done, total, failed atomic.Int64
	// reindexing is set while StartReindex's re-index runs.
	reindexing atomic.Bool
	// lastErr is the last embedding failure, "" after a success.
	mu      sync.Mutex
	lastErr error
}

// StartReindex starts Reindex in the background, beyond ctx's end, and
// returns how many agents it will index; while one runs, it starts no
// other and returns that one's total.
func (x *Indexer) StartReindex(ctx context.Context) (int, error) {
	if !x.reindexing.CompareAndSwap(false, true) {
		_, total := x.Progress()
		return int(total), nil
	}
	total, err := x.count(ctx)
	if err != nil {
		x.reindexing.Store(false)
		return 0, err
	}
	bg := x.Background
	if bg == nil {
		bg = context.WithoutCancel(ctx)
	}
	x.background.Go(func() {
		defer x.reindexing.Store(false)
		if _, err := x.Reindex(bg); err != nil && bg.Err() == nil {
			x.logger().WarnContext(bg, "discovery: re-index stopped", slog.String("error", err.Error()))
		}
	})
	return total, nil
}

// Wait waits for StartReindex's re-index to end (end Background first).
func (x *Indexer) Wait() { x.background.Wait() }

// Ref names an agent to index: its namespace and ID.
type Ref struct{ Namespace, ID string }

func (x *Indexer) batch() int {
	if x.BatchSize > 0 {
		return x.BatchSize
	}
	return 32
}

// Sync indexes the agents refs name as they are now: it embeds those that
// exist and removes the others from the index.
func (x *Indexer) Sync(ctx context.Context, refs ...Ref) error {
	var agents []*platform.Agent
	var gone []string
	for _, r := range refs {
		a, err := x.Agents.FindAgent(ctx, r.Namespace, r.ID)
		switch {
		case platform.ErrorCode(err) == platform.ENOTFOUND:
			gone = append(gone, r.ID)
		case err != nil:
			return err
		default:
			agents = append(agents, a)
		}
	}
	if len(gone) > 0 {
		if err := x.Index.Delete(ctx, gone...); err != nil {
			return err
		}
	}
	return x.index(ctx, agents)
}

// index embeds agents in batches and upserts them.
func (x *Indexer) index(ctx context.Context, agents []*platform.Agent) error {
	for i := 0; i < len(agents); i += x.batch() {
		chunk := agents[i:min(i+x.batch(), len(agents))]
		texts := make([]string, len(chunk))
		for j, a := range chunk {
			texts[j] = Text(a)
		}
		vecs, err := x.Embedder.Embed(ctx, texts)
		if err == nil && len(vecs) != len(chunk) {
			err = platform.Errorf(platform.EUNAVAILABLE, "the embedder returned %d vectors for %d texts", len(vecs), len(chunk))
		}
		x.mu.Lock()
		x.lastErr = err
		x.mu.Unlock()
		if err != nil {
			x.failed.Add(int64(len(chunk)))
			return err
		}
		docs := make([]platform.VectorDoc, len(chunk))
		for j, a := range chunk {
			docs[j] = *Doc(a, vecs[j])
		}
		if err := x.Index.Upsert(ctx, docs...); err != nil {
			return err
		}
	}
	return nil
}

// Reindex embeds every agent of every namespace again, logging its
// progress, and returns how many it indexed.
func (x *Indexer) Reindex(ctx context.Context) (int, error) {
	total, err := x.count(ctx)
	if err != nil {
		return 0, err
	}
	x.total.Store(int64(total))
	x.done.Store(0)
	start, lastLog := time.Now(), time.Now()
	after := ""
	for {
		page, err := x.Agents.ListAgents(ctx, platform.AgentFilter{Namespace: platform.AllNamespaces, After: after, Limit: platform.MaxPageSize})
		if err != nil {
			return int(x.done.Load()), err
		}
		// The list leaves manifests out; the text of an agent takes its
		// manifest's prose too.
		full := make([]*platform.Agent, 0, len(page.Items))
		for _, a := range page.Items {
			if b, err := x.Agents.FindAgent(ctx, a.Namespace, a.ID); err == nil {
				full = append(full, b)
			}
		}
		if err := x.index(ctx, full); err != nil {
			return int(x.done.Load()), err
		}
		x.done.Add(int64(len(full)))
		if time.Since(lastLog) > 5*time.Second {
			lastLog = time.Now()
			x.logger().InfoContext(ctx, "discovery: re-indexing", slog.Int64("done", x.done.Load()), slog.Int("total", total))
		}
		if page.Next == "" {
			break
		}
		after = page.Next
	}
	x.logger().InfoContext(ctx, "discovery: index complete", slog.Int64("agents", x.done.Load()),
		slog.String("embedder", x.Embedder.Model()), slog.String("index", x.Index.Backend()),
		slog.Duration("took", time.Since(start).Round(time.Millisecond)))
	return int(x.done.Load()), nil
}

// count is how many agents the registry holds.
func (x *Indexer) count(ctx context.Context) (int, error) {
	counts, err := x.Agents.CountAgents(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, c := range counts {
		n += c.Count
	}
	return n, nil
}

// Stale reports whether the index holds fewer agents than the registry:
// agents that a Reindex would index.
func (x *Indexer) Stale(ctx context.Context) (bool, error) {
	n, err := x.count(ctx)
	if err != nil {
		return false, err
	}
	have, err := x.Index.Count(ctx)
	return have < n, err
}

// Progress is how far the last Reindex got: agents indexed, of how many.
func (x *Indexer) Progress() (done, total int64) { return x.done.Load(), x.total.Load() }

// Failed counts the agents whose embedding failed since the start.
func (x *Indexer) Failed() int64 { return x.failed.Load() }

// Err is the embedder's last failure, nil once it answers again: what
// /health reports as degraded.
func (x *Indexer) Err() error {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.lastErr
}

// Run indexes the agents named by the events of changes as they come,
// and every RetryInterval, while the embedder failed or the index is
// stale, re-indexes everything; it returns when ctx ends.
func (x *Indexer) Run(ctx context.Context, changes <-chan *platform.Event, retry time.Duration) {
	if retry <= 0 {
		retry = 30 * time.Second
	}
	x.catchUp(ctx)
	t := time.NewTicker(retry)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case e, ok := <-changes:
			if !ok {
				return
			}
			ref, ok := refOf(e)
			if !ok {
				continue
			}
			if err := x.Sync(ctx, ref); err != nil && !errors.Is(err, context.Canceled) {
				x.logger().WarnContext(ctx, "discovery: agent not indexed; it will be at the next re-index",
					slog.String("agent", ref.ID), slog.String("error", err.Error()))
			}
		case <-t.C:
			if x.Err() != nil {
				x.catchUp(ctx)
			} else if stale, err := x.Stale(ctx); err == nil && stale {
				x.catchUp(ctx)
			}
		}
	}
}

// catchUp re-indexes everything when the index is stale or the embedder
// failed last.
func (x *Indexer) catchUp(ctx context.Context) {
	stale, err := x.Stale(ctx)
	if err == nil && !stale && x.Err() == nil {
		return
	}
	if _, err := x.Reindex(ctx); err != nil && !errors.Is(err, context.Canceled) {
		x.logger().WarnContext(ctx, "discovery: re-index stopped; retrying later", slog.String("error", err.Error()))
	}
}

// refOf names the agent an agent event is about.
func refOf(e *platform.Event) (Ref, bool) {
	switch e.Type {
	case platform.EventAgentRegistered, platform.EventAgentUpdated, platform.EventAgentDeleted:
	default:
		return Ref{}, false
	}
	var d platform.AgentEventData
	if err := json.Unmarshal(e.Data, &d); err != nil || d.ID == "" {
		return Ref{}, false
	}
	return Ref{Namespace: d.Namespace, ID: d.ID}, true
}

func (x *Indexer) logger() *slog.Logger {
	if x.Logger != nil {
		return x.Logger
	}
	return slog.Default()
}
