package serve

import (
	"io"
	"reflect"
	"slices"
	"testing"
)

// TestDefaultConfig checks that DefaultConfig is what `ossa serve` runs
// with when nothing is set.
func TestDefaultConfig(t *testing.T) {
	t.Chdir(t.TempDir()) // no .env
	loaded, err := LoadConfig(nil, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if got := DefaultConfig(); !reflect.DeepEqual(got, loaded) {
		t.Fatalf("DefaultConfig() = %+v, want %+v", got, loaded)
	}
	if v := Variables(); len(v) != len(settings) || v[0] != "SERVICE_PORT" || !slices.Contains(v, "POSTGRES_URL") {
		t.Fatalf("Variables() = %v", v)
	}
}
