// Package lexical is the embedder discovery uses when no model is
// configured: it needs no model file and no network, and turns text into a
// vector by feature hashing. Each word (lower case, stopwords dropped,
// common English suffixes stemmed), each pair of neighbouring words and
// each character trigram of a word is hashed to one of Dimension buckets
// with a sign; counts are damped (1 + log tf), weighted by kind, and the
// vector is L2-normalised. Texts that share words, word stems, phrases or
// spellings ("invoice", "invoices", "invoicing") land near each other;
// synonyms do not, which is what a real model behind OSSA_EMBEDDINGS_URL
// adds.
//
// The embedding is deterministic: the same text gives the same vector on
// every machine and release of this package with the same Model name.
package lexical

import (
	"context"
	"hash/fnv"
	"math"
	"strings"
	"unicode"

	"github.com/ossa-platform/platform"
)

// Model is the name the lexical embedder reports; a change of the
// features or their weights must change it, so that indexes re-index.
const Model = "lexical-v1"

// DefaultDimension is the length of its vectors unless told otherwise.
const DefaultDimension = 384

// Weights of the three kinds of features: whole words say most, phrases
// say which words belong together, trigrams bridge inflections and
// spellings the stemmer leaves apart.
const (
	wordWeight    = 1.0
	bigramWeight  = 0.3
	trigramWeight = 0.5
)

// maxRunes bounds the text one vector is made of: the start of a longer
// text decides.
const maxRunes = 1 << 16

// Embedder is the lexical platform.Embedder.
type Embedder struct{ dim int }

var _ platform.Embedder = (*Embedder)(nil)

// New returns a lexical embedder of vectors of dim dimensions, 16 to
// 4096.
func New(dim int) (*Embedder, error) {
	if dim < 16 || dim > 4096 {
		return nil, platform.Errorf(platform.EINVALID, "a lexical embedding has 16 to 4096 dimensions, not %d", dim)
	}
	return &Embedder{dim: dim}, nil
}

// Model returns "lexical-v1".
func (e *Embedder) Model() string { return Model }

// Dimension is the length of its vectors.
func (e *Embedder) Dimension() int { return e.dim }

// Embed returns the vector of each text; it fails only when ctx ends.
func (e *Embedder) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	out := make([][]float32, len(texts))
	for i, t := range texts {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		out[i] = e.Vector(t)
	}
	return out, nil
}

// Vector is the embedding of text: unit length, or zero when text has no
// word.
func (e *Embedder) Vector(text string) []float32 {
	if len(text) > maxRunes {
		text = text[:maxRunes]
	}
	counts := map[string]float64{}
	words := Words(text)
	for i, w := range words {
		counts["w:"+w] += wordWeight
		if i > 0 {
			counts["b:"+words[i-1]+" "+w] += bigramWeight
		}
		padded := "<" + w + ">"
		r := []rune(padded)
		for j := 0; j+3 <= len(r); j++ {
			counts["t:"+string(r[j:j+3])] += trigramWeight
		}
	}
	v := make([]float32, e.dim)
	for f, c := range counts {
		h := fnv.New64a()
		_, _ = h.Write([]byte(f))
		sum := h.Sum64()
		w := float32(1 + math.Log(c))
		if c < 1 { // a single trigram or bigram keeps its weight
			w = float32(c)
		}
		if sum>>63 == 1 {
			w = -w
		}
		v[sum%uint64(e.dim)] += w
	}
	return platform.Normalize(v)
}

// Words are the stemmed, lower-case words of text that say something:
// letters and digits, stopwords dropped.
func Words(text string) []string {
	var out []string
	for _, w := range strings.FieldsFunc(strings.ToLower(text), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r)
	}) {
		if stopwords[w] {
			continue
		}
		out = append(out, Stem(w))
	}
	return out
}

// stopwords say nothing of what an agent does: articles, pronouns,
// auxiliaries, and the words of a question ("which agent can ...").
var stopwords = func() map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(`a an the and or but if of to in on at by for from with into onto over
		under about as is are was were be been being am do does did doing have has had having
		i me my we our us you your he she it its they them their this that these those there here
		which what who whom whose where when why how can could would should will shall may might must
		any some all each every no not nor so than too very just also then only own same such
		agent agents one ones thing things something please want need needs like get`) {
		m[w] = true
	}
	return m
}()
