package inmem_test

import (
	"sync"
	"testing"

	"github.com/ossa-platform/platform"
	"github.com/ossa-platform/platform/inmem"
	"github.com/ossa-platform/platform/storetest"
)

func TestBus(t *testing.T) {
	var mu sync.Mutex
	buses := map[string]*inmem.Bus{}
	storetest.RunBus(t, func(t *testing.T, key string) platform.EventBus {
		mu.Lock()
		defer mu.Unlock()
		if buses[key] == nil {
			buses[key] = inmem.NewBus()
		}
		return buses[key]
	})
}
