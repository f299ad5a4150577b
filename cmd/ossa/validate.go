package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/ossa-platform/platform/manifest"
)

const validateUsage = `Usage: ossa validate FILE|DIR... [flags]

Validates OSSA manifests (YAML, multi-document YAML, or JSON) as the official
schema of each one's release does, plus the platform's own checks. A
directory is searched for *.yaml, *.yml and *.json files holding documents
with an apiVersion or kind. Each problem prints as
  file:line:col: error|warning: message (JSON pointer)
Exit status: 0 when no error was found, 1 otherwise, 2 for a usage error.

Flags:
`

// fileReport is what `ossa validate --format json` prints per document.
type fileReport struct {
	File        string                `json:"file"`
	Document    int                   `json:"document"`
	APIVersion  string                `json:"api_version,omitempty"`
	Kind        string                `json:"kind,omitempty"`
	Schema      string                `json:"schema,omitempty"`
	Valid       bool                  `json:"valid"`
	Diagnostics []manifest.Diagnostic `json:"diagnostics"`
	Conformance *manifest.Score       `json:"conformance,omitempty"`
}

// runValidate runs `ossa validate`.
func runValidate(_ context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("ossa validate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	format := fs.String("format", "text", "output format: text or json")
	strict := fs.Bool("strict", false, "treat warnings as errors")
	profile := fs.String("conformance", "", "also score Agent manifests against a conformance profile: "+strings.Join(manifest.ProfileNames(), " or "))
	fs.Usage = func() { fmt.Fprint(stderr, validateUsage); fs.PrintDefaults() }
	paths, err := parseArgs(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	switch {
	case err != nil:
		return 2
	case len(paths) == 0:
		fmt.Fprint(stderr, "ossa validate: name at least one file or directory\n\n")
		fs.Usage()
		return 2
	case *format != "text" && *format != "json":
		fmt.Fprintf(stderr, "ossa validate: --format must be text or json, not %q\n", *format)
		return 2
	case *profile != "" && manifest.Profiles[*profile].ID == "":
		fmt.Fprintf(stderr, "ossa validate: --conformance must be %s, not %q\n", strings.Join(manifest.ProfileNames(), " or "), *profile)
		return 2
	}

	var reports []fileReport
	failed := false
	for _, file := range expand(paths, stderr, &failed) {
		rs, err := validateFile(file, *profile)
		if err != nil {
			failed = true
			var pe *manifest.ParseError
			if errors.As(err, &pe) {
				reports = append(reports, fileReport{File: file, Diagnostics: []manifest.Diagnostic{{
					Severity: manifest.SeverityError, Code: "parse", Pos: pe.Pos, Message: pe.Msg}}})
				continue
			}
			fmt.Fprintf(stderr, "ossa validate: %v\n", err)
			continue
		}
		reports = append(reports, rs...)
	}
	errs, warns := 0, 0
	for i := range reports {
		r := &reports[i]
		for j := range r.Diagnostics {
			if *strict {
				r.Diagnostics[j].Severity = manifest.SeverityError
			}
			if r.Diagnostics[j].Severity == manifest.SeverityError {
				errs++
			} else {
				warns++
			}
		}
		r.Valid = !hasError(r.Diagnostics)
	}
	if *format == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if reports == nil {
			reports = []fileReport{}
		}
		_ = enc.Encode(reports)
	} else {
		for _, r := range reports {
			for _, d := range r.Diagnostics {
				fmt.Fprintln(stdout, d.Format(r.File))
			}
			if s := r.Conformance; s != nil {
				fmt.Fprintf(stdout, "%s: conformance %s: %.0f%% %s", r.File, s.Profile, s.Value*100, s.Status)
				if len(s.MissingRequired) > 0 {
					fmt.Fprintf(stdout, " (missing required: %s)", strings.Join(s.MissingRequired, ", "))
				}
				fmt.Fprintln(stdout)
			}
		}
		fmt.Fprintf(stderr, "%d documents, %d errors, %d warnings\n", len(reports), errs, warns)
	}
	if failed || errs > 0 {
		return 1
	}
	return 0
}

// expand turns the arguments into files: files as named, directories
// searched for manifests.
func expand(paths []string, stderr io.Writer, failed *bool) []string {
	var out []string
	for _, p := range paths {
		info, err := os.Stat(p)
		if err != nil {
			fmt.Fprintf(stderr, "ossa validate: %v\n", err)
			*failed = true
			continue
		}
		if !info.IsDir() {
			out = append(out, p)
			continue
		}
		_ = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				fmt.Fprintf(stderr, "ossa validate: %v\n", err)
				*failed = true
				return nil
			}
			switch strings.ToLower(filepath.Ext(path)) {
			case ".yaml", ".yml", ".json":
				if !d.IsDir() && looksLikeManifest(path) {
					out = append(out, path)
				}
			}
			return nil
		})
	}
	return out
}

// looksLikeManifest reports whether a file found in a directory holds a
// document with an apiVersion or kind (a broken file counts, to be reported).
func looksLikeManifest(path string) bool {
	data, err := os.ReadFile(path)
	if err != nil {
		return true
	}
	docs, err := manifest.Parse(path, data)
	if err != nil {
		return true
	}
	for _, d := range docs {
		if d.Root.Get("apiVersion") != nil || d.Root.Get("kind") != nil {
			return true
		}
	}
	return false
}

func validateFile(file, profile string) ([]fileReport, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	docs, err := manifest.Parse(file, data)
	if err != nil {
		return nil, err
	}
	var out []fileReport
	for _, doc := range docs {
		r := manifest.Validate(doc)
		rep := fileReport{File: file, Document: doc.Index, APIVersion: doc.APIVersion(), Kind: doc.Kind(),
			Schema: r.Schema, Diagnostics: r.Diagnostics}
		if rep.Diagnostics == nil {
			rep.Diagnostics = []manifest.Diagnostic{}
		}
		if profile != "" && doc.Kind() == "Agent" {
			rep.Conformance, _ = manifest.Conformance(doc, profile)
		}
		out = append(out, rep)
	}
	return out, nil
}

func hasError(ds []manifest.Diagnostic) bool {
	for _, d := range ds {
		if d.Severity == manifest.SeverityError {
			return true
		}
	}
	return false
}
