package manifest_test

import (
	"fmt"

	"github.com/ossa-platform/platform/manifest"
)

func ExampleValidate() {
	src := []byte(`apiVersion: ossa/v0.4.6
kind: Workflow
metadata:
  name: pipeline
spec:
  steps:
    - id: fetch
      ref: fetcher
      depends_on: [review]
    - id: review
      ref: reviewer
      input: {diff: "${{ steps.fetch.outputs.diff }}"}
`)
	docs, err := manifest.Parse("pipeline.yaml", src)
	if err != nil {
		panic(err)
	}
	for _, d := range manifest.Validate(docs[0]).Diagnostics {
		if d.Code != "schema" && d.Code != "internal" {
			fmt.Println(d.Format("pipeline.yaml"))
		}
	}
	// Output:
	// pipeline.yaml:9:19: error: the steps depend on each other in a cycle: fetch → review → fetch (/spec/steps/0/depends_on)
	// pipeline.yaml:12:26: error: steps.fetch.outputs is never set: a step has output and status (/spec/steps/1/input/diff)
}
