package manifest

import (
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkValidateCorpus parses and validates every document of the OSSA
// corpus once per iteration, in one process, schemas compiled beforehand.
func BenchmarkValidateCorpus(b *testing.B) {
	var files [][]byte
	_ = filepath.WalkDir(corpusDir, func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			switch filepath.Ext(path) {
			case ".yaml", ".yml", ".json":
				if data, err := os.ReadFile(path); err == nil {
					files = append(files, data)
				}
			}
		}
		return nil
	})
	if len(files) == 0 {
		b.Skip("the OSSA corpus is absent")
	}
	docs := 0
	validate := func() {
		docs = 0
		for _, data := range files {
			ds, _ := Parse("f", data)
			for _, d := range ds {
				Validate(d)
				docs++
			}
		}
	}
	validate() // compile the schemas
	b.ResetTimer()
	for b.Loop() {
		validate()
	}
	b.ReportMetric(float64(docs), "docs/op")
	b.ReportMetric(float64(len(files)), "files/op")
}
