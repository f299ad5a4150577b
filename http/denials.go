package http

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/ossa-platform/platform"
)

// Denied requests (401 and 403 answers) are audited outside any
// transaction, by a recorder that neither slows the request nor lets a
// flood fill the database: the request only counts its denial in memory,
// and a timer writes the counts. Denials alike (the same source, caller,
// namespace, route, path and status) are folded together per minute of
// the clock: the first is written within deniedFlushDelay, standing for
// the denials seen until then, and the rest of the minute's in one more
// record as the minute ends, its Count saying how many. At most
// DeniedKeysPerMinute such groups are kept a minute; the denials beyond
// them are folded into one record of their own (action "*"). So a replica
// writes at most 2×DeniedKeysPerMinute+1 denial records a minute however
// many requests it refuses, and the rate limiter, which runs before
// authentication, bounds the requests themselves.
const (
	// DeniedKeysPerMinute is the most groups of alike denials a replica
	// keeps apart in one minute.
	DeniedKeysPerMinute = 100
	// deniedFlushDelay is how soon the first denial of a group is written.
	deniedFlushDelay = 200 * time.Millisecond
	// deniedWriteTimeout bounds one write of denial records.
	deniedWriteTimeout = 10 * time.Second
	// maxDeniedPath is how much of a denied request's path is kept.
	maxDeniedPath = 256
)

// denialKey is what alike denials share.
type denialKey struct {
	source, kind, subject, namespace, action, path string
	status                                         int
}

// denialGroup is one minute's alike denials: the record of the first not
// yet written, how many it stands for, and whether one was written.
type denialGroup struct {
	rec     platform.AuditRecord
	pending int
	written bool
}

// denials records a gateway's denied requests in its AuditStore.
type denials struct {
	store  platform.AuditStore
	log    *slog.Logger
	max    int
	now    func() time.Time
	writes sync.WaitGroup

	mu      sync.Mutex
	minute  int64 // the Unix minute groups are of
	groups  map[denialKey]*denialGroup
	due     []platform.AuditRecord // groups of past minutes, to write
	timer   *time.Timer
	timerAt time.Time
	closed  bool
}

func newDenials(store platform.AuditStore, log *slog.Logger) *denials {
	return &denials{store: store, log: log, max: DeniedKeysPerMinute, now: time.Now, groups: map[denialKey]*denialGroup{}}
}

// overflowKey is the group of the denials beyond the minute's max groups.
var overflowKey = denialKey{action: "*"}

// note counts rec, a denied request's record, in its group and schedules
// the write. It never blocks on the database.
func (d *denials) note(rec platform.AuditRecord, status int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return
	}
	now := rec.Time
	d.roll(now)
	key := denialKey{source: rec.Source, kind: string(rec.Principal.Kind), subject: rec.Principal.Subject,
		namespace: rec.Namespace, action: rec.Action, path: rec.Target.Name, status: status}
	g := d.groups[key]
	if g == nil && len(d.groups) >= d.max {
		key = overflowKey
		g = d.groups[key]
		rec = platform.AuditRecord{Action: "*", Target: platform.AuditTarget{Kind: platform.AuditTargetRoute, Name: "*"},
			Source: "*", Outcome: platform.AuditDenied, Time: now,
			Detail: "denied requests beyond the " + itoa(d.max) + " groups of alike ones this minute"}
	}
	if g == nil {
		g = &denialGroup{}
		d.groups[key] = g
	}
	if g.pending == 0 {
		g.rec = rec
	}
	g.pending++
	if g.written {
		d.schedule(time.Unix((d.minute+1)*60, 0))
	} else {
		d.schedule(now.Add(deniedFlushDelay))
	}
}

// roll makes now's minute the current one, moving the groups of the one
// before, with what they still count, to due. d.mu is held.
func (d *denials) roll(now time.Time) {
	m := now.Unix() / 60
	if m == d.minute {
		return
	}
	for _, g := range d.groups {
		if g.pending > 0 {
			d.due = append(d.due, g.record())
		}
	}
	clear(d.groups)
	d.minute = m
}

// record returns the group's record of its pending denials, and marks
// them written. d.mu is held.
func (g *denialGroup) record() platform.AuditRecord {
	r := g.rec
	r.Count = g.pending
	g.pending, g.written = 0, true
	return r
}

// schedule makes the flush run by at. d.mu is held.
func (d *denials) schedule(at time.Time) {
	if d.timer != nil && !d.timerAt.After(at) {
		return
	}
	if d.timer != nil {
		d.timer.Stop()
	}
	d.timerAt = at
	d.timer = time.AfterFunc(max(time.Until(at), 0), d.flush)
}

// flush writes what is due: the groups of past minutes, and the first
// denials of the current minute's groups not yet written; it schedules the
// next flush for the end of the minute when groups still count denials.
func (d *denials) flush() {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return
	}
	d.timer = nil
	d.roll(d.now())
	out := d.due
	d.due = nil
	waiting := false
	for _, g := range d.groups {
		switch {
		case g.pending > 0 && !g.written:
			out = append(out, g.record())
		case g.pending > 0:
			waiting = true
		}
	}
	if waiting {
		d.schedule(time.Unix((d.minute+1)*60, 0))
	}
	d.writes.Add(1)
	d.mu.Unlock()
	defer d.writes.Done()
	d.write(out)
}

func (d *denials) write(records []platform.AuditRecord) {
	if len(records) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), deniedWriteTimeout)
	defer cancel()
	if err := d.store.RecordAudit(ctx, records...); err != nil {
		// The requests were answered; their record is lost, and says so.
		d.log.Warn("audit records of denied requests lost", slog.Int("records", len(records)), slog.String("error", err.Error()))
	}
}

// close writes every denial counted so far, whatever its minute, and
// stops recording: the gateway is shutting down.
func (d *denials) close() {
	d.mu.Lock()
	if d.timer != nil {
		d.timer.Stop()
		d.timer = nil
	}
	d.closed = true
	out := d.due
	d.due = nil
	for _, g := range d.groups {
		if g.pending > 0 {
			out = append(out, g.record())
		}
	}
	d.mu.Unlock()
	d.writes.Wait()
	d.write(out)
}

// noteDenied counts a 401 or 403 answer to r, if the gateway audits.
func (s *Server) noteDenied(r *http.Request, info *requestInfo, status int) {
	if s.denials == nil {
		return
	}
	rec := platform.AuditRecord{
		Time:      time.Now(),
		Action:    s.deniedAction(r, info),
		Target:    platform.AuditTarget{Kind: platform.AuditTargetRoute, Name: platform.Truncate(r.URL.Path, maxDeniedPath)},
		RequestID: info.id,
		Source:    info.source,
		Outcome:   platform.AuditDenied,
		Detail:    itoa(status) + " " + http.StatusText(status),
	}
	if p := info.principal; p != nil {
		rec.Principal = platform.AuditPrincipal{Kind: p.Kind, Subject: p.Subject}
		rec.Namespace = p.Namespace
	}
	// The namespace the request asked to act in, even one it may not see:
	// that is the namespace whose admins want to know.
	if ns := r.Header.Get(NamespaceHeader); platform.ValidNamespace(ns) {
		rec.Namespace = ns
	}
	s.denials.note(rec, status)
}

// deniedAction is a denied request's action: its method and route, which
// the refusal may have come before routing found.
func (s *Server) deniedAction(r *http.Request, info *requestInfo) string {
	route := info.route
	if route == "" {
		if _, pattern := s.mux.Handler(r); pattern != "" {
			route = routeLabel(pattern)
		}
	}
	if route == "" {
		route = "unmatched"
	}
	return logMethod(r.Method) + " " + route
}
