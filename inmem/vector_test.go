package inmem_test

import (
	"testing"

	"github.com/ossa-platform/platform"
	"github.com/ossa-platform/platform/inmem"
	"github.com/ossa-platform/platform/vectortest"
)

func TestVectorIndex(t *testing.T) {
	vectortest.Run(t, func(t *testing.T, dim int) platform.VectorIndex { return inmem.NewVectorIndex(dim) },
		vectortest.Options{MinRecall: 1})
}
