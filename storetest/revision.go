package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ossa-platform/platform"
)

// revisionOf returns a workflow named name whose manifest and definition
// say n, so that each n is a change.
func revisionOf(name string, n int) *platform.Workflow {
	w := NewWorkflow(name)
	w.Version = fmt.Sprintf("1.%d.0", n)
	w.Definition = json.RawMessage(fmt.Sprintf(`{"kind":"Workflow","metadata":{"name":%q,"version":"1.%d.0"},"spec":{"steps":[],"n":%d}}`, name, n, n))
	w.Manifest = &platform.ManifestSource{Format: "yaml", Body: fmt.Appendf(nil, "kind: Workflow # revision %d\r\n", n)}
	return w
}

func put(t *testing.T, s Store, w *platform.Workflow, want platform.WorkflowChange) *platform.Workflow {
	t.Helper()
	got, err := s.PutWorkflow(context.Background(), w, nil)
	if err != nil || got != want {
		t.Fatalf("PutWorkflow(%s) = %q, %v; want %q", w.Name, got, err, want)
	}
	return w
}

func revisionNumbers(rs []*platform.WorkflowRevision) []int {
	var out []int
	for _, r := range rs {
		out = append(out, r.Revision)
	}
	return out
}

// runRevisions checks PutWorkflow and the revisions it keeps.
func runRevisions(t *testing.T, newStore func(t *testing.T) Store) {
	ctx := context.Background()
	ns := platform.DefaultNamespace

	t.Run("PutCreatesAndRevises", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		first := put(t, s, revisionOf("digest", 1), platform.WorkflowCreated)
		if len(first.ID) != 36 || first.Revision != 1 || first.Namespace != ns || !first.UpdatedAt.Equal(first.CreatedAt) {
			t.Fatalf("created %+v", first)
		}
		assertSameWorkflow(t, findWorkflow(t, s, "digest"), first)

		for !time.Now().After(first.UpdatedAt.Add(time.Millisecond)) {
			time.Sleep(time.Millisecond) // the clock, not another goroutine, is awaited
		}
		second := put(t, s, revisionOf("digest", 2), platform.WorkflowUpdated)
		if second.ID != first.ID || second.Revision != 2 || !second.CreatedAt.Equal(first.CreatedAt) ||
			!second.UpdatedAt.After(first.UpdatedAt) {
			t.Fatalf("revised %+v after %+v", second, first)
		}
		assertSameWorkflow(t, findWorkflow(t, s, first.ID), second)

		// The same manifest again stores nothing.
		same := put(t, s, revisionOf("digest", 2), platform.WorkflowUnchanged)
		assertSameWorkflow(t, same, second)
		// Without manifests, the same definition is no change either,
		// whatever its spacing and key order.
		bare := NewWorkflow("bare")
		put(t, s, bare, platform.WorkflowCreated)
		again := NewWorkflow("bare")
		again.Definition = json.RawMessage(`{ "spec":{"steps":[]}, "metadata":{"name":"bare"}, "kind":"Workflow" }`)
		if got := put(t, s, again, platform.WorkflowUnchanged); got.Revision != 1 {
			t.Fatalf("unchanged put gave revision %d", got.Revision)
		}
		again = NewWorkflow("bare")
		again.Description = "now described"
		if got := put(t, s, again, platform.WorkflowUpdated); got.Revision != 2 {
			t.Fatalf("a new description gave revision %d", got.Revision)
		}

		page, err := s.ListWorkflowRevisions(ctx, platform.RevisionFilter{Namespace: ns, Workflow: "digest", Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		if got := revisionNumbers(page.Items); !slices.Equal(got, []int{2, 1}) || page.Next != "" {
			t.Fatalf("revisions %v, next %q", got, page.Next)
		}
		for i, r := range page.Items {
			w := []*platform.Workflow{second, first}[i]
			if r.WorkflowID != w.ID || r.Name != "digest" || r.Version != w.Version || r.APIVersion != w.APIVersion ||
				!r.CreatedAt.Equal(w.UpdatedAt) || r.Definition != nil || r.Manifest != nil {
				t.Fatalf("listed revision %+v of %+v", r, w)
			}
		}
		for _, w := range []*platform.Workflow{first, second} {
			for _, ref := range []string{"digest", w.ID} {
				r, err := s.FindWorkflowRevision(ctx, ns, ref, w.Revision)
				if err != nil {
					t.Fatalf("FindWorkflowRevision(%s, %d): %v", ref, w.Revision, err)
				}
				if r.Revision != w.Revision || !sameJSON(r.Definition, w.Definition) || r.Version != w.Version ||
					!r.CreatedAt.Equal(w.UpdatedAt) {
					t.Fatalf("revision %+v, want %+v", r, w)
				}
				assertManifest(t, r.Manifest, w.Manifest)
				// As a workflow to run, it is the workflow as it was.
				as := r.Workflow(ns)
				if as.ID != w.ID || as.Name != w.Name || as.Revision != w.Revision || !sameJSON(as.Definition, w.Definition) {
					t.Fatalf("revision as a workflow %+v, want %+v", as, w)
				}
			}
		}
		_, err = s.FindWorkflowRevision(ctx, ns, "digest", 3)
		wantCode(t, err, platform.ENOTFOUND)
		wantMessage(t, err, `workflow "digest" has no revision 3`)
		_, err = s.FindWorkflowRevision(ctx, ns, "absent", 1)
		wantCode(t, err, platform.ENOTFOUND)
		wantMessage(t, err, `workflow "absent" not found`)
		_, err = s.FindWorkflowRevision(ctx, "other", "digest", 1)
		wantCode(t, err, platform.ENOTFOUND)
		_, err = s.ListWorkflowRevisions(ctx, platform.RevisionFilter{Namespace: ns, Workflow: "absent", Limit: 10})
		wantCode(t, err, platform.ENOTFOUND)
		wantMessage(t, err, `workflow "absent" not found`)
	})

	t.Run("CreateIsRevisionOne", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		w := createWorkflow(t, s, revisionOf("made", 1))
		if w.Revision != 1 {
			t.Fatalf("CreateWorkflow set revision %d", w.Revision)
		}
		r, err := s.FindWorkflowRevision(ctx, ns, "made", 1)
		if err != nil || !sameJSON(r.Definition, w.Definition) {
			t.Fatalf("revision 1 of a created workflow: %+v, %v", r, err)
		}
		put(t, s, revisionOf("made", 2), platform.WorkflowUpdated)
	})

	t.Run("Check", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		refuse := platform.Errorf(platform.EPRECONDITION, "no")
		var saw []*platform.Workflow
		check := func(cur *platform.Workflow) error {
			saw = append(saw, cur)
			return refuse
		}
		_, err := s.PutWorkflow(ctx, revisionOf("guarded", 1), check)
		if !errors.Is(err, refuse) || len(saw) != 1 || saw[0] != nil {
			t.Fatalf("check of a new name: %v, saw %v", err, saw)
		}
		if _, err := s.FindWorkflow(ctx, ns, "guarded"); platform.ErrorCode(err) != platform.ENOTFOUND {
			t.Fatalf("a refused put stored the workflow: %v", err)
		}
		w := put(t, s, revisionOf("guarded", 1), platform.WorkflowCreated)
		saw = nil
		attempt := revisionOf("guarded", 2)
		if _, err := s.PutWorkflow(ctx, attempt, check); !errors.Is(err, refuse) || len(saw) != 1 || saw[0].ID != w.ID || saw[0].Revision != 1 {
			t.Fatalf("check of a stored name: %v, saw %+v", err, saw)
		}
		if attempt.ID != "" || attempt.Revision != 0 {
			t.Fatalf("a refused put changed its workflow: %+v", attempt)
		}
		assertSameWorkflow(t, findWorkflow(t, s, "guarded"), w)
		page, err := s.ListWorkflowRevisions(ctx, platform.RevisionFilter{Namespace: ns, Workflow: "guarded", Limit: 10})
		if err != nil || len(page.Items) != 1 {
			t.Fatalf("revisions after a refused put: %v, %v", revisionNumbers(page.Items), err)
		}
		// A check that passes lets the put through.
		if got, err := s.PutWorkflow(ctx, revisionOf("guarded", 2), func(*platform.Workflow) error { return nil }); err != nil || got != platform.WorkflowUpdated {
			t.Fatalf("passing check: %q, %v", got, err)
		}
		// A definition that is not JSON is refused before anything.
		bad := revisionOf("guarded", 3)
		bad.Definition = json.RawMessage(`{`)
		_, err = s.PutWorkflow(ctx, bad, nil)
		wantCode(t, err, platform.EINVALID)
		if got := findWorkflow(t, s, "guarded"); got.Revision != 2 {
			t.Fatalf("an invalid put changed the workflow to revision %d", got.Revision)
		}
	})

	t.Run("Events", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		sequence(t, s)
		put(t, s, revisionOf("loud", 1), platform.WorkflowCreated)
		put(t, s, revisionOf("loud", 2), platform.WorkflowUpdated)
		put(t, s, revisionOf("loud", 2), platform.WorkflowUnchanged)
		es := sequence(t, s)
		if got := types(es); len(es) != 2 || es[0].Type != platform.EventWorkflowCreated || es[1].Type != platform.EventWorkflowUpdated {
			t.Fatalf("events %s, want workflow.created and workflow.updated", got)
		}
		for i, e := range es {
			var d platform.WorkflowEventData
			decode(t, e, &d)
			if d.Name != "loud" || d.Revision != i+1 || d.Version != fmt.Sprintf("1.%d.0", i+1) || e.Stream() != "workflow" {
				t.Fatalf("event %s data %s", e.Type, e.Data)
			}
		}
	})

	t.Run("Pagination", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		for n := 1; n <= 5; n++ {
			put(t, s, revisionOf("long", n), map[bool]platform.WorkflowChange{true: platform.WorkflowCreated, false: platform.WorkflowUpdated}[n == 1])
		}
		f := platform.RevisionFilter{Namespace: ns, Workflow: "long", Limit: 2}
		var got []int
		var sizes []int
		for range 10 {
			page, err := s.ListWorkflowRevisions(ctx, f)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, revisionNumbers(page.Items)...)
			sizes = append(sizes, len(page.Items))
			if page.Next == "" {
				break
			}
			f.After = page.Next
		}
		if !slices.Equal(got, []int{5, 4, 3, 2, 1}) || !slices.Equal(sizes, []int{2, 2, 1}) {
			t.Fatalf("pages of %v gave %v", sizes, got)
		}
		for _, bad := range []string{"nope", "0", "-1"} {
			_, err := s.ListWorkflowRevisions(ctx, platform.RevisionFilter{Namespace: ns, Workflow: "long", After: bad, Limit: 2})
			wantCode(t, err, platform.EINVALID)
		}
	})

	t.Run("ConcurrentPuts", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		const writers = 8
		var wg sync.WaitGroup
		changes := make([]platform.WorkflowChange, writers)
		errs := make([]error, writers)
		stored := make([]*platform.Workflow, writers)
		for i := range writers {
			wg.Go(func() {
				stored[i] = revisionOf("contended", i+1)
				changes[i], errs[i] = s.PutWorkflow(ctx, stored[i], nil)
			})
		}
		wg.Wait()
		created := 0
		var revisions []int
		for i, err := range errs {
			if err != nil {
				t.Fatalf("writer %d: %v", i, err)
			}
			if changes[i] == platform.WorkflowCreated {
				created++
			}
			revisions = append(revisions, stored[i].Revision)
		}
		slices.Sort(revisions)
		if created != 1 || !slices.Equal(revisions, []int{1, 2, 3, 4, 5, 6, 7, 8}) {
			t.Fatalf("%d creations; writers stored revisions %v, want each of 1 to 8 once", created, revisions)
		}
		page, err := s.ListWorkflowRevisions(ctx, platform.RevisionFilter{Namespace: ns, Workflow: "contended", Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		if got := revisionNumbers(page.Items); !slices.Equal(got, []int{8, 7, 6, 5, 4, 3, 2, 1}) {
			t.Fatalf("stored revisions %v", got)
		}
		// Each writer's definition is the revision it was told it stored.
		for _, w := range stored {
			r, err := s.FindWorkflowRevision(ctx, ns, "contended", w.Revision)
			if err != nil || !sameJSON(r.Definition, w.Definition) {
				t.Fatalf("revision %d = %+v, %v; want the definition of its writer %s", w.Revision, r, err, w.Definition)
			}
		}
		if got := findWorkflow(t, s, "contended"); got.Revision != 8 {
			t.Fatalf("the workflow is at revision %d, want 8", got.Revision)
		}
	})

	t.Run("RunsRecordTheirRevision", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		put(t, s, revisionOf("ran", 1), platform.WorkflowCreated)
		w := put(t, s, revisionOf("ran", 2), platform.WorkflowUpdated)
		r := NewRun("ran")
		r.WorkflowID, r.WorkflowRevision, r.WorkflowVersion, r.Definition = w.ID, w.Revision, w.Version, w.Definition
		createRun(t, s, r)
		inline := createRun(t, s, NewRun("inline"))
		if r.WorkflowRevision != 2 || r.WorkflowVersion != "1.2.0" || inline.WorkflowRevision != 0 || inline.WorkflowVersion != "" {
			t.Fatalf("created runs %+v, %+v", r, inline)
		}
		assertSameRun(t, findRun(t, s, r.ID), r)
		assertSameRun(t, findRun(t, s, inline.ID), inline)
		page, err := s.ListRuns(ctx, platform.RunFilter{Namespace: ns, Workflow: "ran", Limit: 10})
		if err != nil || len(page.Items) != 1 || page.Items[0].WorkflowRevision != 2 || page.Items[0].WorkflowVersion != "1.2.0" {
			t.Fatalf("listed runs %+v, %v", page.Items, err)
		}
		for _, bad := range []*platform.Run{
			{Workflow: "x", WorkflowRevision: 3, Definition: w.Definition},
			{Workflow: "x", WorkflowID: w.ID, WorkflowRevision: -1, Definition: w.Definition},
		} {
			wantCode(t, s.CreateRun(ctx, bad), platform.EINVALID)
		}

		// Deleting the workflow takes its revisions and leaves its runs.
		if err := s.DeleteWorkflow(ctx, ns, "ran"); err != nil {
			t.Fatal(err)
		}
		_, err = s.FindWorkflowRevision(ctx, ns, w.ID, 1)
		wantCode(t, err, platform.ENOTFOUND)
		_, err = s.ListWorkflowRevisions(ctx, platform.RevisionFilter{Namespace: ns, Workflow: w.ID, Limit: 10})
		wantCode(t, err, platform.ENOTFOUND)
		assertSameRun(t, findRun(t, s, r.ID), r)
		// The name starts again from revision 1, with a new ID.
		again := put(t, s, revisionOf("ran", 3), platform.WorkflowCreated)
		if again.ID == w.ID || again.Revision != 1 {
			t.Fatalf("the name created again: %+v", again)
		}
		page2, err := s.ListWorkflowRevisions(ctx, platform.RevisionFilter{Namespace: ns, Workflow: "ran", Limit: 10})
		if err != nil || !slices.Equal(revisionNumbers(page2.Items), []int{1}) {
			t.Fatalf("revisions of the new workflow: %v, %v", revisionNumbers(page2.Items), err)
		}
	})
}

func findWorkflow(t *testing.T, s Store, ref string) *platform.Workflow {
	t.Helper()
	w, err := s.FindWorkflow(context.Background(), platform.DefaultNamespace, ref)
	if err != nil {
		t.Fatalf("FindWorkflow(%s): %v", ref, err)
	}
	return w
}
