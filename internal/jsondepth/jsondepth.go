// Package jsondepth tells how deeply a JSON text nests without decoding it,
// so that a body nested too deeply is refused before any decoder, schema
// validator or database spends memory and stack on it. encoding/json stops
// at 10,000 levels, SQLite's JSON functions at 1,000; the platform's own
// documents nest a few dozen at most.
package jsondepth

// Exceeds reports whether data, read as JSON, opens more than limit arrays
// and objects inside one another, and if so the byte offset of the bracket
// that goes past the limit. Brackets inside strings do not count. data need
// not be valid JSON: whatever it is, its brackets are counted the same way.
func Exceeds(data []byte, limit int) (offset int, exceeded bool) {
	depth := 0
	inString, escaped := false, false
	for i, c := range data {
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == '[' || c == '{':
			depth++
			if depth > limit {
				return i, true
			}
		case c == ']' || c == '}':
			if depth > 0 {
				depth--
			}
		}
	}
	return 0, false
}
