package lexical

import "strings"

// Stem strips the common English suffixes of a lower-case word, so that
// the forms of one word share a feature: "invoices", "invoicing" and
// "invoiced" become "invoic"; "summarization" and "summarizes" become
// "summar"; "translation", "translator" and "translate" become "translat". It is a light stemmer in the spirit of Porter's first steps,
// not Porter's algorithm: stems need not be words, only agree. Words of
// four letters or fewer, and those with digits, stay as they are.
func Stem(w string) string {
	if len(w) <= 4 || strings.ContainsAny(w, "0123456789") {
		return w
	}
	// Plurals and third persons.
	switch {
	case strings.HasSuffix(w, "sses"):
		w = w[:len(w)-2]
	case strings.HasSuffix(w, "ies") && len(w) > 5:
		w = w[:len(w)-3] + "y"
	case strings.HasSuffix(w, "ss"), strings.HasSuffix(w, "us"), strings.HasSuffix(w, "is"):
	case strings.HasSuffix(w, "s"):
		w = w[:len(w)-1]
	}
	// Derivational and inflectional endings, longest first; a stem keeps
	// at least three letters.
	for _, s := range suffixes {
		if strings.HasSuffix(w, s) && len(w)-len(s) >= 3 {
			w = w[:len(w)-len(s)]
			break
		}
	}
	// A stem that ends in a doubled consonant ("stopp" of "stopping")
	// or a silent e loses it, so verbs meet their nouns.
	if n := len(w); n > 3 && w[n-1] == w[n-2] && !strings.ContainsRune("aeiouls", rune(w[n-1])) {
		w = w[:n-1]
	}
	if n := len(w); n > 3 && w[n-1] == 'e' {
		w = w[:n-1]
	}
	if n := len(w); n > 3 && w[n-1] == 'y' {
		w = w[:n-1] + "i"
	}
	return w
}

// suffixes are stripped once, the first that fits, longest first.
var suffixes = []string{
	"ization", "isation", "fulness", "iveness", "ousness",
	"ements", "ement", "ments", "ment", "ities", "ity", "ness",
	"izing", "ising", "ings", "ing", "izer", "ized", "ize", "ised", "ise",
	"ion", "or", "er", "ed", "ly", "able", "ible", "al", "ive", "ic",
}
