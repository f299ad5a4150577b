package sqlstore

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strconv"

	"github.com/ossa-platform/platform"
)

// PutAttempts bounds how often PutWorkflow starts over after losing a race
// to create the name it puts (another writer created it first): the next
// attempt finds the workflow and stores a revision of it.
const PutAttempts = 3

// SameWorkflow reports whether storing w over current would change
// nothing: the same version, description and API version, and the same
// manifest byte for byte (which the definition is read from), or, without
// manifests, the same definition as a JSON value.
func SameWorkflow(current, w *platform.Workflow) bool {
	if current.Version != w.Version || current.Description != w.Description || current.APIVersion != w.APIVersion ||
		(current.Manifest == nil) != (w.Manifest == nil) {
		return false
	}
	if current.Manifest != nil {
		return current.Manifest.Format == w.Manifest.Format && bytes.Equal(current.Manifest.Body, w.Manifest.Body)
	}
	return SameJSON(current.Definition, w.Definition)
}

// SameJSON reports whether a and b are the same JSON value, numbers
// compared by their text.
func SameJSON(a, b json.RawMessage) bool {
	var x, y any
	da, db := json.NewDecoder(bytes.NewReader(a)), json.NewDecoder(bytes.NewReader(b))
	da.UseNumber()
	db.UseNumber()
	return da.Decode(&x) == nil && db.Decode(&y) == nil && reflect.DeepEqual(x, y)
}

// RevisionCursor returns the revision a page cursor of revisions names, 0
// for none, or platform.BadCursor() for a cursor no page gave out.
func RevisionCursor(after string) (int, error) {
	if after == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(after)
	if err != nil || n < 1 {
		return 0, platform.BadCursor()
	}
	return n, nil
}

// RevisionPage cuts revisions, read newest first with a limit of limit+1,
// to one page and its next cursor.
func RevisionPage(items []*platform.WorkflowRevision, limit int) platform.RevisionPage {
	page := platform.RevisionPage{Items: items}
	page.Items, page.Next = Page(items, limit, func(r *platform.WorkflowRevision) string { return strconv.Itoa(r.Revision) })
	return page
}
