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
      depends_on: [review]
    - id: review
      depends_on: [fetch]
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
	// pipeline.yaml:8:19: error: the steps depend on each other in a cycle: fetch → review → fetch (/spec/steps/0/depends_on)
}
