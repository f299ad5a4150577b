package engine

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/ossa-platform/platform"
)

// picker chooses the agent for a step and keeps what choosing needs: each
// agent's calls in flight from this replica, its health as last seen here,
// and short-lived caches of agents by reference and by capability.
type picker struct {
	store platform.AgentStore
	now   func() time.Time

	byRef        ttlCache[*platform.Agent]
	byCapability ttlCache[[]*platform.Agent]

	mu       sync.Mutex
	inflight map[string]int
	health   map[string]platform.HealthStatus
	next     int
}

// agentCacheTTL bounds how stale the agents a call reads may be: a new
// registration is chosen, and a changed or deleted agent's old record
// dropped, within this long. It keeps the database off the path of every
// agent call (docs/benchmarks.md, execute latency).
const agentCacheTTL = time.Second

// maxCached bounds the entries of each agent cache.
const maxCached = 10_000

func newPicker(store platform.AgentStore, now func() time.Time) *picker {
	return &picker{store: store, now: now, inflight: map[string]int{}, health: map[string]platform.HealthStatus{}}
}

// find returns the agent with that ID or name, read from the store at most
// once per agentCacheTTL. Not found is never cached.
func (p *picker) find(ctx context.Context, namespace, ref string) (*platform.Agent, error) {
	return p.byRef.get(p.now, namespace+"\x00"+ref, func() (*platform.Agent, error) {
		return p.store.FindAgent(ctx, namespace, ref)
	})
}

// withCapability returns the active agents of namespace with capability,
// read from the store at most once per agentCacheTTL.
func (p *picker) withCapability(ctx context.Context, namespace, capability string) ([]*platform.Agent, error) {
	return p.byCapability.get(p.now, namespace+"\x00"+capability, func() ([]*platform.Agent, error) {
		return listAll(ctx, p.store, platform.AgentFilter{Namespace: namespace, Capability: capability, Status: platform.AgentActive})
	})
}

// ttlCache keeps what load returned for agentCacheTTL, for at most
// maxCached keys (it empties when full). Errors are not cached.
type ttlCache[V any] struct {
	mu      sync.Mutex
	entries map[string]ttlEntry[V]
}

type ttlEntry[V any] struct {
	v  V
	at time.Time
}

func (c *ttlCache[V]) get(now func() time.Time, key string, load func() (V, error)) (V, error) {
	c.mu.Lock()
	e, ok := c.entries[key]
	c.mu.Unlock()
	if ok && now().Sub(e.at) < agentCacheTTL {
		return e.v, nil
	}
	v, err := load()
	if err != nil {
		return v, err
	}
	c.mu.Lock()
	if c.entries == nil || len(c.entries) >= maxCached {
		c.entries = map[string]ttlEntry[V]{}
	}
	c.entries[key] = ttlEntry[V]{v: v, at: now()}
	c.mu.Unlock()
	return v, nil
}

// choose picks among candidates: agents not known to be unhealthy first,
// then the fewest calls in flight (least_conn), ties in turn.
func (p *picker) choose(cands []*platform.Agent) *platform.Agent {
	if len(cands) == 0 {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.next++
	var best *platform.Agent
	bestScore := 0
	for i := range cands {
		a := cands[(i+p.next)%len(cands)]
		score := p.inflight[a.ID]
		if p.healthLocked(a) == platform.HealthUnhealthy {
			score += 1 << 30
		}
		if best == nil || score < bestScore {
			best, bestScore = a, score
		}
	}
	return best
}

// begin counts a call to a in flight until the returned func is called.
func (p *picker) begin(a *platform.Agent) func() {
	p.mu.Lock()
	p.inflight[a.ID]++
	p.mu.Unlock()
	return func() {
		p.mu.Lock()
		if p.inflight[a.ID]--; p.inflight[a.ID] <= 0 {
			delete(p.inflight, a.ID)
		}
		p.mu.Unlock()
	}
}

// healthOf is a's health as this engine last saw it (its probes and
// calls), else as stored.
func (p *picker) healthOf(a *platform.Agent) platform.HealthStatus {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.healthLocked(a)
}

func (p *picker) healthLocked(a *platform.Agent) platform.HealthStatus {
	if h, ok := p.health[a.ID]; ok {
		return h
	}
	return a.Health.Status
}

// observe records what a probe or a call found; it reports whether the
// health changed, so the caller stores it only then.
func (p *picker) observe(a *platform.Agent, h platform.HealthStatus) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.healthLocked(a) == h {
		return false
	}
	p.health[a.ID] = h
	return true
}

// listAll pages through every agent f selects.
func listAll(ctx context.Context, store platform.AgentStore, f platform.AgentFilter) ([]*platform.Agent, error) {
	var out []*platform.Agent
	f.Limit = platform.MaxPageSize
	for {
		page, err := store.ListAgents(ctx, f)
		if err != nil {
			return nil, err
		}
		out = append(out, page.Items...)
		if page.Next == "" {
			return out, nil
		}
		f.After = page.Next
	}
}

// recordCall turns a call's outcome into health: a success means the agent
// is up, no answer or a 5xx means it is not, and a 4xx (the agent refused
// this input) says nothing about its health.
func (e *Engine) recordCall(a *platform.Agent, err error) {
	var ie *platform.InvocationError
	switch {
	case err == nil:
		e.setHealth(a, platform.HealthHealthy, "")
	case errors.As(err, &ie) && ie.Retryable && (ie.StatusCode == 0 || ie.StatusCode >= 500):
		e.setHealth(a, platform.HealthUnhealthy, ie.Message)
	}
}

func (e *Engine) setHealth(a *platform.Agent, status platform.HealthStatus, reason string) {
	if !e.agents.observe(a, status) {
		return
	}
	now := e.cfg.Now().UTC()
	h := platform.AgentHealth{Status: status, Reason: platform.Truncate(reason, 500), CheckedAt: &now}
	// A detached context: the health of an agent outlives the call that
	// found it, even a cancelled one.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := e.cfg.Agents.SetAgentHealth(ctx, a.ID, h); err != nil && platform.ErrorCode(err) != platform.ENOTFOUND {
		e.log.Warn("record agent health", "agent", a.Name, "error", err.Error())
		return
	}
	e.log.Info("agent health changed", "agent", a.Name, "health", status, "reason", h.Reason)
}

// probeLoop probes every active agent's health endpoint each interval.
func (e *Engine) probeLoop(ctx context.Context) {
	t := time.NewTicker(e.cfg.HealthInterval)
	defer t.Stop()
	for {
		e.probeAll(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (e *Engine) probeAll(ctx context.Context) {
	agents, err := listAll(ctx, e.cfg.Agents, platform.AgentFilter{Namespace: platform.AllNamespaces, Status: platform.AgentActive})
	if err != nil {
		if ctx.Err() == nil {
			e.log.Warn("list agents to probe", "error", err.Error())
		}
		return
	}
	timeout := min(5*time.Second, e.cfg.HealthInterval)
	sem := make(chan struct{}, 16)
	var wg sync.WaitGroup
	for _, a := range agents {
		if a.Endpoint == "" {
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			pctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			err := e.cfg.Invoker.Probe(pctx, a)
			if ctx.Err() != nil {
				return
			}
			if err != nil {
				e.setHealth(a, platform.HealthUnhealthy, err.Error())
			} else {
				e.setHealth(a, platform.HealthHealthy, "")
			}
		}()
	}
	wg.Wait()
}
