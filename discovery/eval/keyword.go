package eval

import (
	"context"
	"sort"
	"strings"
	"unicode"

	"github.com/ossa-platform/platform"
)

// KeywordSearch is the baseline: it ranks agents by how many distinct
// words of the query appear in their name, description and capabilities
// (lower-cased, split at every character that is not a letter or digit,
// common English function words left out), ties broken by name. Agents
// sharing no word are not returned. A search that understands meaning
// should beat it.
func KeywordSearch(agents []*platform.Agent) SearchFunc {
	type entry struct {
		name  string
		words map[string]bool
	}
	entries := make([]entry, len(agents))
	for i, a := range agents {
		set := map[string]bool{}
		for _, w := range words(a.Name + " " + a.Description + " " + strings.Join(a.Capabilities, " ")) {
			set[w] = true
		}
		entries[i] = entry{a.Name, set}
	}
	return func(ctx context.Context, query string, limit int) ([]string, error) {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if limit <= 0 {
			return []string{}, nil
		}
		type hit struct {
			name  string
			score int
		}
		q := map[string]bool{}
		for _, w := range words(query) {
			q[w] = true
		}
		var hits []hit
		for _, e := range entries {
			score := 0
			for w := range q {
				if e.words[w] {
					score++
				}
			}
			if score > 0 {
				hits = append(hits, hit{e.name, score})
			}
		}
		sort.Slice(hits, func(i, j int) bool {
			if hits[i].score != hits[j].score {
				return hits[i].score > hits[j].score
			}
			return hits[i].name < hits[j].name
		})
		names := make([]string, 0, min(limit, len(hits)))
		for _, h := range hits[:min(limit, len(hits))] {
			names = append(names, h.name)
		}
		return names, nil
	}
}

// words splits text into the lower-cased words KeywordSearch compares:
// runs of letters and digits, without common English function words.
func words(text string) []string {
	var out []string
	for _, w := range strings.FieldsFunc(strings.ToLower(text), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r)
	}) {
		if !stopWords[w] {
			out = append(out, w)
		}
	}
	return out
}

// stopWords are the function words that would otherwise match nearly
// every agent.
var stopWords = func() map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(`a an and are as at be by can do does for from has have how i in is it its
		me my no not of on or our so some something that the their them there these they this to us was we
		what when where which who why will with you your`) {
		m[w] = true
	}
	return m
}()
