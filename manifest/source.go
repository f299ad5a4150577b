package manifest

import (
	"bytes"
	"strings"
	"sync"
	"unicode/utf8"
)

// source is the text of a parsed file, kept so that a position inside a
// string value (an expression's, say) can be found in the file.
type source struct {
	data []byte

	once  sync.Once
	lines []int // byte offset of each line's start

	mu    sync.Mutex
	runes map[int][]int32 // byte offset of each rune of a non-ASCII line
}

// line returns the text of the 1-based line n, without its end. Lines
// end as YAML ends them: at \n, \r\n or a lone \r.
func (s *source) line(n int) []byte {
	s.once.Do(func() {
		s.lines = []int{0}
		for i, c := range s.data {
			if c == '\n' || c == '\r' && (i+1 == len(s.data) || s.data[i+1] != '\n') {
				s.lines = append(s.lines, i+1)
			}
		}
	})
	if n < 1 || n > len(s.lines) {
		return nil
	}
	end := len(s.data)
	if n < len(s.lines) {
		end = s.lines[n] - 1
	}
	return bytes.TrimSuffix(s.data[s.lines[n-1]:end], []byte("\r"))
}

// column returns the byte offset in line n of its 1-based column col,
// counted in characters as the YAML parser counts them, or -1.
func (s *source) column(n, col int) int {
	text := s.line(n)
	if col < 1 {
		return -1
	}
	ascii := true
	for _, c := range text {
		if c >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if ascii {
		if col-1 > len(text) {
			return -1
		}
		return col - 1
	}
	// Lines with other characters get an index once, so that many
	// positions on one long line cost no more than one pass over it.
	s.mu.Lock()
	defer s.mu.Unlock()
	idx, ok := s.runes[n]
	if !ok {
		for i := range string(text) {
			idx = append(idx, int32(i))
		}
		idx = append(idx, int32(len(text)))
		if s.runes == nil {
			s.runes = map[int][]int32{}
		}
		s.runes[n] = idx
	}
	if col-1 >= len(idx) {
		return -1
	}
	return int(idx[col-1])
}

// PosAt returns the position in the file of the byte at offset in a
// String's text: exact when the string is written on one line as it reads
// (plain, or quoted without escapes), else the string's own position.
func (n *Node) PosAt(offset int) Pos {
	if n == nil {
		return Pos{}
	}
	if n.Kind != String || n.src == nil || offset < 0 || offset > len(n.Text) || strings.ContainsAny(n.Text, "\r\n") {
		return n.Pos
	}
	at := n.src.column(n.Pos.Line, n.Pos.Column)
	if at < 0 {
		return n.Pos
	}
	raw := string(n.src.line(n.Pos.Line)[at:])
	quote := 0
	switch {
	case strings.HasPrefix(raw, `"`+n.Text+`"`), strings.HasPrefix(raw, `'`+n.Text+`'`):
		quote = 1
	case raw != "" && raw[0] != '"' && raw[0] != '\'' && strings.HasPrefix(raw, n.Text):
	default:
		return n.Pos
	}
	return Pos{Line: n.Pos.Line, Column: n.Pos.Column + quote + utf8.RuneCountInString(n.Text[:offset])}
}
