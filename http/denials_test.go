package http

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/ossa-platform/platform"
	"github.com/ossa-platform/platform/sqlite"
)

// TestDenialsFlood checks the bound on denial records: a flood of denials
// from many sources in one minute writes at most two records per group of
// alike ones, for at most DeniedKeysPerMinute groups, and one record for
// the rest, while every denial is counted; the next minute starts anew.
func TestDenialsFlood(t *testing.T) {
	t.Parallel()
	db, err := sqlite.Open(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	d := newDenials(db, slog.New(slog.DiscardHandler))
	d.max = 5
	minute := time.Now().Truncate(time.Minute).Add(-time.Hour) // a minute long past: flushes write it at once
	d.now = func() time.Time { return minute.Add(30 * time.Second) }
	denial := func(source string, at time.Time) platform.AuditRecord {
		return platform.AuditRecord{Time: at, Action: "GET /api/v1/agents", Source: source, Outcome: platform.AuditDenied,
			Target: platform.AuditTarget{Kind: platform.AuditTargetRoute, Name: "/api/v1/agents"}, Detail: "401 Unauthorized"}
	}
	// 20 sources, 50 denials each, from 8 goroutines at once.
	const sources, each = 20, 50
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := g; i < sources*each; i += 8 {
				d.note(denial(fmt.Sprint("192.0.2.", i%sources), minute.Add(time.Duration(i)*time.Millisecond)), 401)
				if i%97 == 0 {
					d.flush()
				}
			}
		})
	}
	wg.Wait()
	d.flush()
	// A denial of the next minute: the first minute's counts are due.
	d.now = func() time.Time { return minute.Add(90 * time.Second) }
	d.note(denial("192.0.2.1", minute.Add(61*time.Second)), 401)
	d.close()
	d.note(denial("192.0.2.1", minute.Add(62*time.Second)), 401) // after close: not recorded

	page, err := db.ListAudit(context.Background(), platform.AuditFilter{Limit: platform.MaxPageSize})
	if err != nil {
		t.Fatal(err)
	}
	total, overflow := 0, 0
	groups := map[string]int{}
	for _, a := range page.Items {
		if !a.Time.Before(minute.Add(time.Minute)) {
			if a.Source != "192.0.2.1" || a.Count != 1 {
				t.Errorf("the next minute's record: %+v", a)
			}
			continue
		}
		total += a.Count
		groups[a.Source]++
		if a.Action == "*" {
			overflow += a.Count
		}
	}
	if total != sources*each {
		t.Errorf("the records count %d denials, want %d", total, sources*each)
	}
	if len(groups) != d.max+1 || groups["*"] == 0 {
		t.Errorf("records by source %v: want %d groups and the overflow", groups, d.max)
	}
	for src, n := range groups {
		if n > 2 {
			t.Errorf("source %s has %d records, want at most 2", src, n)
		}
	}
	if overflow < (sources-d.max)*each {
		t.Errorf("the overflow record counts %d, want at least %d", overflow, (sources-d.max)*each)
	}
	if len(page.Items) > 2*d.max+2+1 {
		t.Errorf("%d records for one minute's flood", len(page.Items))
	}
}

// TestDenialsDoNotWait checks that counting a denial does not wait for
// the database: a store that hangs holds up only the timer's write.
func TestDenialsDoNotWait(t *testing.T) {
	t.Parallel()
	block := make(chan struct{})
	d := newDenials(hangingAudit{block}, slog.New(slog.DiscardHandler))
	start := time.Now()
	for i := range 1000 {
		d.note(platform.AuditRecord{Time: time.Now(), Action: "GET /x", Source: fmt.Sprint(i % 3),
			Outcome: platform.AuditDenied, Target: platform.AuditTarget{Kind: "route"}}, 403)
		if i == 500 {
			time.Sleep(2 * deniedFlushDelay) // a write is hanging from now on
		}
	}
	if took := time.Since(start); took > time.Second+2*deniedFlushDelay {
		t.Errorf("counting 1000 denials took %v", took)
	}
	close(block)
	d.close()
}

// hangingAudit is an AuditStore whose writes wait for block.
type hangingAudit struct{ block chan struct{} }

func (h hangingAudit) RecordAudit(context.Context, ...platform.AuditRecord) error {
	<-h.block
	return nil
}
func (hangingAudit) ListAudit(context.Context, platform.AuditFilter) (platform.AuditPage, error) {
	return platform.AuditPage{}, nil
}
func (hangingAudit) PruneAudit(context.Context, time.Time, int) (int64, error) { return 0, nil }
