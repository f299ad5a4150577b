package serve

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ossa-platform/platform"
	"github.com/ossa-platform/platform/hnsw"
)

// TestLoadingIndex: while the embedded index opens, searches fail at once
// (discovery ranks by words), /health says it loads, and writes wait for
// it instead of being lost.
func TestLoadingIndex(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	l := loadInBackground(2, "embedded", func() (platform.VectorIndex, error) {
		<-release
		return hnsw.New(2, hnsw.Options{}), nil
	})
	ctx := context.Background()
	q := platform.VectorQuery{Vector: []float32{1, 0}, Limit: 1, Namespaces: []string{platform.AllNamespaces}}
	if _, err := l.Search(ctx, q); platform.ErrorCode(err) != platform.EUNAVAILABLE {
		t.Fatalf("Search while loading = %v, want EUNAVAILABLE", err)
	}
	if err := l.Ping(ctx); err == nil {
		t.Fatal("Ping while loading succeeded")
	}
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if _, err := l.Count(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Count while loading = %v, want it to wait", err)
	}
	wrote := make(chan error, 1)
	go func() {
		wrote <- l.Upsert(ctx, platform.VectorDoc{ID: "a", Namespace: "default", Vector: []float32{1, 0}})
	}()
	close(release)
	if err := <-wrote; err != nil {
		t.Fatal(err)
	}
	hits, err := l.Search(ctx, q)
	if err != nil || len(hits) != 1 || hits[0].ID != "a" {
		t.Fatalf("Search once loaded = %v, %v", hits, err)
	}
	if err := l.Ping(ctx); err != nil || l.Backend() != "embedded" || l.Dimension() != 2 {
		t.Fatalf("Ping %v, Backend %q, Dimension %d", err, l.Backend(), l.Dimension())
	}
}

// TestLoadingIndexFailed: an index that could not open says why, to
// every call.
func TestLoadingIndexFailed(t *testing.T) {
	t.Parallel()
	boom := errors.New("disk on fire")
	l := loadInBackground(2, "embedded", func() (platform.VectorIndex, error) { return nil, boom })
	<-l.ready
	ctx := context.Background()
	if err := l.Upsert(ctx); !errors.Is(err, boom) {
		t.Fatalf("Upsert = %v", err)
	}
	if _, err := l.Search(ctx, platform.VectorQuery{}); !errors.Is(err, boom) {
		t.Fatalf("Search = %v", err)
	}
	if err := l.Ping(ctx); !errors.Is(err, boom) {
		t.Fatalf("Ping = %v", err)
	}
}
