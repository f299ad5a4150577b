package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ossa-platform/platform"
)

// workflowYAML is a Workflow manifest as submitted; workflowJSON is the
// same document as the JSON definition the engine reads.
const (
	workflowYAML = "# nightly digest\r\napiVersion: ossa/v0.3.0\r\nkind: Workflow\r\nmetadata:\r\n" +
		"  name: digest   \r\n  version: 1.0.0\r\nspec:\r\n  steps:\r\n  - id: fetch\r\n    agent: fetcher\r\n" +
		"  - id: summarize # after fetch\r\n    depends_on: [fetch]\r\n"
	workflowJSON = `{"apiVersion":"ossa/v0.3.0","kind":"Workflow","metadata":{"name":"digest","version":"1.0.0"},` +
		`"spec":{"steps":[{"id":"fetch","agent":"fetcher"},{"id":"summarize","depends_on":["fetch"]}],` +
		`"timeout":12345678901234567890,"note":"caf\u00e9"}}`
)

// NewWorkflow returns a workflow named name for tests, with a definition
// and no manifest.
func NewWorkflow(name string) *platform.Workflow {
	return &platform.Workflow{
		Namespace:  platform.DefaultNamespace,
		Name:       name,
		APIVersion: "ossa/v0.3.0",
		Definition: json.RawMessage(`{"kind":"Workflow","metadata":{"name":"` + name + `"},"spec":{"steps":[]}}`),
	}
}

func createWorkflow(t *testing.T, s Store, w *platform.Workflow) *platform.Workflow {
	t.Helper()
	if err := s.CreateWorkflow(context.Background(), w); err != nil {
		t.Fatalf("CreateWorkflow(%s): %v", w.Name, err)
	}
	return w
}

func runWorkflows(t *testing.T, newStore func(t *testing.T) Store) {
	ctx := context.Background()
	ns := platform.DefaultNamespace

	t.Run("CreateAndFind", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		w := &platform.Workflow{
			Name:        "digest",
			Version:     "1.0.0",
			Description: "Summarizes the day's news",
			APIVersion:  "ossa/v0.3.0",
			Definition:  json.RawMessage(workflowJSON),
			Manifest:    &platform.ManifestSource{Format: "yaml", Body: []byte(workflowYAML)},
		}
		before := time.Now().Add(-time.Second)
		createWorkflow(t, s, w)
		if len(w.ID) != 36 {
			t.Fatalf("CreateWorkflow set ID %q, want a UUID", w.ID)
		}
		if w.Namespace != ns {
			t.Fatalf("namespace = %q, want %q for an empty one", w.Namespace, ns)
		}
		if w.CreatedAt.Before(before) || !w.UpdatedAt.Equal(w.CreatedAt) || w.CreatedAt.Location() != time.UTC ||
			!w.CreatedAt.Equal(w.CreatedAt.Truncate(time.Microsecond)) {
			t.Fatalf("timestamps: created %v updated %v", w.CreatedAt, w.UpdatedAt)
		}
		for _, ref := range []string{w.ID, w.Name} {
			got, err := s.FindWorkflow(ctx, ns, ref)
			if err != nil {
				t.Fatalf("FindWorkflow(%s): %v", ref, err)
			}
			assertSameWorkflow(t, got, w)
		}
		// Without a manifest, none comes back.
		bare := createWorkflow(t, s, NewWorkflow("bare"))
		got, err := s.FindWorkflow(ctx, ns, bare.ID)
		if err != nil {
			t.Fatal(err)
		}
		assertSameWorkflow(t, got, bare)

		page, err := s.ListWorkflows(ctx, platform.WorkflowFilter{Namespace: ns, Limit: platform.MaxPageSize})
		if err != nil {
			t.Fatal(err)
		}
		if got := workflowNames(page.Items); !slices.Equal(got, []string{"digest", "bare"}) || page.Next != "" {
			t.Fatalf("listed %v, next %q", got, page.Next)
		}
		if first := page.Items[0]; !sameJSON(first.Definition, w.Definition) || first.APIVersion != w.APIVersion {
			t.Fatalf("listed workflow = %+v, want the definition and api version", first)
		}
	})

	t.Run("NotFound", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		createWorkflow(t, s, NewWorkflow("present"))
		for _, ref := range []string{"absent", "0190b1b2-0000-7000-8000-000000000000"} {
			_, err := s.FindWorkflow(ctx, ns, ref)
			wantCode(t, err, platform.ENOTFOUND)
			wantMessage(t, err, fmt.Sprintf("workflow %q not found", ref))
			err = s.DeleteWorkflow(ctx, ns, ref)
			wantCode(t, err, platform.ENOTFOUND)
			wantMessage(t, err, fmt.Sprintf("workflow %q not found", ref))
		}
		_, err := s.FindWorkflow(ctx, "other", "present")
		wantCode(t, err, platform.ENOTFOUND)
		wantCode(t, s.DeleteWorkflow(ctx, "other", "present"), platform.ENOTFOUND)
		if _, err := s.FindWorkflow(ctx, ns, "present"); err != nil {
			t.Fatalf("workflow lost to a delete in another namespace: %v", err)
		}
	})

	t.Run("Conflict", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		first := createWorkflow(t, s, NewWorkflow("dup"))
		second := NewWorkflow("dup")
		second.Definition = json.RawMessage(`{"second":true}`)
		err := s.CreateWorkflow(ctx, second)
		wantCode(t, err, platform.ECONFLICT)
		wantMessage(t, err, fmt.Sprintf("a workflow named %q already exists in namespace %q", "dup", ns))
		if second.ID != "" {
			t.Fatalf("failed create set ID %q", second.ID)
		}
		got, err := s.FindWorkflow(ctx, ns, "dup")
		if err != nil {
			t.Fatal(err)
		}
		assertSameWorkflow(t, got, first)
		// Another namespace may reuse the name.
		other := NewWorkflow("dup")
		other.Namespace = "other"
		createWorkflow(t, s, other)
		if got, err := s.FindWorkflow(ctx, "other", "dup"); err != nil || got.ID != other.ID {
			t.Fatalf("FindWorkflow(other, dup) = %v, %v", got, err)
		}
	})

	t.Run("Delete", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		byName := createWorkflow(t, s, NewWorkflow("doomed"))
		byID := createWorkflow(t, s, NewWorkflow("doomed-too"))
		keep := createWorkflow(t, s, NewWorkflow("kept"))
		if err := s.DeleteWorkflow(ctx, ns, byName.Name); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteWorkflow(ctx, ns, byID.ID); err != nil {
			t.Fatal(err)
		}
		for _, w := range []*platform.Workflow{byName, byID} {
			_, err := s.FindWorkflow(ctx, ns, w.ID)
			wantCode(t, err, platform.ENOTFOUND)
			wantCode(t, s.DeleteWorkflow(ctx, ns, w.ID), platform.ENOTFOUND)
		}
		if _, err := s.FindWorkflow(ctx, ns, keep.ID); err != nil {
			t.Fatal(err)
		}
		// The name is free again, for a new workflow with a new ID.
		again := createWorkflow(t, s, NewWorkflow("doomed"))
		if again.ID == byName.ID {
			t.Fatal("a new workflow reused a deleted ID")
		}
	})

	t.Run("InvalidDefinition", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		for _, def := range []string{"", "{", `{"a":1} trailing`} {
			w := NewWorkflow("broken")
			w.Definition = json.RawMessage(def)
			wantCode(t, s.CreateWorkflow(ctx, w), platform.EINVALID)
		}
		page, err := s.ListWorkflows(ctx, platform.WorkflowFilter{Namespace: ns, Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Items) != 0 {
			t.Fatalf("invalid workflows stored: %v", workflowNames(page.Items))
		}
	})

	t.Run("Pagination", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		var want []string
		for i := range 7 {
			name := fmt.Sprintf("workflow-%02d", i)
			createWorkflow(t, s, NewWorkflow(name))
			want = append(want, name)
		}
		other := NewWorkflow("elsewhere")
		other.Namespace = "other"
		createWorkflow(t, s, other)

		f := platform.WorkflowFilter{Namespace: ns, Limit: 3}
		var got []string
		var sizes []int
		for range 10 {
			page, err := s.ListWorkflows(ctx, f)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, workflowNames(page.Items)...)
			sizes = append(sizes, len(page.Items))
			if page.Next == "" {
				break
			}
			f.After = page.Next
		}
		if !slices.Equal(got, want) || !slices.Equal(sizes, []int{3, 3, 1}) {
			t.Fatalf("pages of %v gave %v, want %v", sizes, got, want)
		}
		// An exact multiple of the page size ends without an empty page.
		page, err := s.ListWorkflows(ctx, platform.WorkflowFilter{Namespace: ns, Limit: 7})
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Items) != 7 || page.Next != "" {
			t.Fatalf("limit 7 of 7: %d items, next %q", len(page.Items), page.Next)
		}
		// A cursor that is no ID is the caller's mistake.
		_, err = s.ListWorkflows(ctx, platform.WorkflowFilter{Namespace: ns, After: "nope", Limit: 3})
		wantCode(t, err, platform.EINVALID)
	})

	t.Run("ConcurrentCreate", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		const writers = 8
		var wg sync.WaitGroup
		errs := make([]error, writers)
		for i := range writers {
			wg.Go(func() { errs[i] = s.CreateWorkflow(ctx, NewWorkflow("contended")) })
		}
		wg.Wait()
		won := 0
		for _, err := range errs {
			switch platform.ErrorCode(err) {
			case "":
				won++
			case platform.ECONFLICT:
			default:
				t.Errorf("contended create: %v", err)
			}
		}
		if won != 1 {
			t.Fatalf("%d writers created the contended name, want 1", won)
		}
		page, err := s.ListWorkflows(ctx, platform.WorkflowFilter{Namespace: ns, Limit: platform.MaxPageSize})
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Items) != 1 {
			t.Fatalf("%d workflows stored, want 1", len(page.Items))
		}
	})
}

func wantMessage(t *testing.T, err error, msg string) {
	t.Helper()
	if got := platform.ErrorMessage(err); got != msg {
		t.Fatalf("error message = %q, want %q", got, msg)
	}
}

func workflowNames(ws []*platform.Workflow) []string {
	var out []string
	for _, w := range ws {
		out = append(out, w.Name)
	}
	return out
}

// assertSameWorkflow compares two workflows field by field, timestamps to
// the microsecond, definitions as JSON values and manifests byte for byte.
func assertSameWorkflow(t *testing.T, got, want *platform.Workflow) {
	t.Helper()
	g, w := *got, *want
	if !sameJSON(g.Definition, w.Definition) {
		t.Fatalf("definition = %s, want %s", g.Definition, w.Definition)
	}
	assertManifest(t, g.Manifest, w.Manifest)
	if !g.CreatedAt.Truncate(time.Microsecond).Equal(w.CreatedAt.Truncate(time.Microsecond)) ||
		!g.UpdatedAt.Truncate(time.Microsecond).Equal(w.UpdatedAt.Truncate(time.Microsecond)) {
		t.Fatalf("timestamps = %v/%v, want %v/%v", g.CreatedAt, g.UpdatedAt, w.CreatedAt, w.UpdatedAt)
	}
	g.Definition, w.Definition = nil, nil
	g.CreatedAt, g.UpdatedAt, w.CreatedAt, w.UpdatedAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	gj, _ := json.Marshal(g)
	wj, _ := json.Marshal(w)
	if string(gj) != string(wj) {
		t.Fatalf("workflow = %s\nwant       %s", gj, wj)
	}
}
