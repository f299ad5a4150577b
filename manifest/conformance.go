package manifest

import (
	"fmt"
	"sort"
	"strings"
)

// Profile is an OSSA conformance profile: features (dotted paths into the
// manifest) an agent must or should have, and how presence is scored.
type Profile struct {
	ID       string
	Extends  string
	Required []string
	Optional []string
	// RequiredWeight and OptionalWeight split the score; PassThreshold and
	// WarnThreshold are on the same scale as their sum.
	RequiredWeight, OptionalWeight float64
	PassThreshold, WarnThreshold   float64
}

// Profiles are the conformance profiles of OSSA v0.3 (spec/v0.3/conformance).
var Profiles = map[string]Profile{
	"baseline": {
		ID:             "baseline",
		Required:       []string{"apiVersion", "kind", "metadata.name", "spec.role", "spec.llm"},
		Optional:       []string{"spec.tools", "spec.autonomy", "spec.observability"},
		RequiredWeight: 0.6, OptionalWeight: 0.4,
		PassThreshold: 0.6, WarnThreshold: 0.8,
	},
	"enterprise": {
		ID:      "enterprise",
		Extends: "baseline",
		Required: []string{"metadata.name", "spec.role", "spec.llm", "spec.constraints", "spec.observability",
			"spec.observability.tracing", "spec.constraints.cost"},
		Optional:       []string{"spec.tools", "spec.autonomy", "metadata.labels"},
		RequiredWeight: 0.6, OptionalWeight: 0.4,
		PassThreshold: 0.7, WarnThreshold: 0.9,
	},
}

// ProfileNames lists the profiles, sorted.
func ProfileNames() []string {
	var out []string
	for n := range Profiles {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Score is a manifest's conformance to a profile.
type Score struct {
	Profile string `json:"profile"`
	// Value is the weighted share of features present, from 0 to 1.
	Value float64 `json:"score"`
	// Status is "pass", "warn" (passes, below the warning threshold) or "fail".
	Status          string   `json:"status"`
	MissingRequired []string `json:"missing_required"`
	MissingOptional []string `json:"missing_optional"`
}

// Conformance scores a document against the named profile. A profile that
// extends another requires its parent's required features too.
func Conformance(doc *Document, profile string) (*Score, error) {
	p, ok := Profiles[profile]
	if !ok {
		return nil, fmt.Errorf("unknown conformance profile %q; known: %s", profile, strings.Join(ProfileNames(), ", "))
	}
	required, optional := p.Required, p.Optional
	for parent := p.Extends; parent != ""; parent = Profiles[parent].Extends {
		required = union(Profiles[parent].Required, required)
	}
	s := &Score{Profile: profile, MissingRequired: []string{}, MissingOptional: []string{}}
	share := func(features []string, missing *[]string) float64 {
		if len(features) == 0 {
			return 1
		}
		have := 0
		for _, f := range features {
			if present(doc.Root, f) {
				have++
			} else {
				*missing = append(*missing, f)
			}
		}
		return float64(have) / float64(len(features))
	}
	total := p.RequiredWeight + p.OptionalWeight
	s.Value = (p.RequiredWeight*share(required, &s.MissingRequired) + p.OptionalWeight*share(optional, &s.MissingOptional)) / total
	switch pass, warn := p.PassThreshold/total, p.WarnThreshold/total; {
	case s.Value < pass:
		s.Status = "fail"
	case s.Value < warn:
		s.Status = "warn"
	default:
		s.Status = "pass"
	}
	return s, nil
}

// present reports whether a dotted feature path names a value that is
// neither missing nor null.
func present(root *Node, feature string) bool {
	n := root
	for _, part := range strings.Split(feature, ".") {
		n = n.Get(part)
		if n == nil {
			return false
		}
	}
	return n.Kind != Null
}

func union(a, b []string) []string {
	out := append([]string(nil), a...)
	for _, s := range b {
		if !contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}
