package process

import (
	"bytes"
	"context"
	"sync"
	"time"
)

// Streams a Line comes from.
const (
	Stdout = "stdout"
	Stderr = "stderr"
)

// maxLineBytes splits longer output lines so one line cannot hold the
// memory a bounded log promises to bound.
const maxLineBytes = 16 << 10

// Line is one line of output.
type Line struct {
	// Seq numbers lines from 1, across restarts, with no gap.
	Seq    int       `json:"seq"`
	Time   time.Time `json:"time"`
	Stream string    `json:"stream"`
	Text   string    `json:"text"`
}

// Log keeps the last lines a process printed on stdout and stderr, across
// its restarts. It is safe for concurrent use; followers wait with Follow.
type Log struct {
	mu     sync.Mutex
	lines  []Line // a ring of cap lines; lines[head] is the oldest once full
	head   int
	cap    int
	seq    int           // Seq of the newest line
	more   chan struct{} // closed and replaced when a line arrives or the log closes
	closed bool
}

// NewLog returns an empty log that keeps the last n lines (at least 1).
func NewLog(n int) *Log {
	return &Log{cap: max(n, 1), more: make(chan struct{})}
}

// Lines returns the kept lines whose Seq is after after, oldest first, and
// the Seq to pass next time (the newest Seq, or after when there is none).
// Lines that fell out of the ring are gone: the first Line's Seq says how
// many.
func (l *Log) Lines(after int) ([]Line, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.linesLocked(after)
}

func (l *Log) linesLocked(after int) ([]Line, int) {
	if l.seq <= after {
		return nil, max(after, l.seq)
	}
	out := make([]Line, 0, min(l.seq-after, len(l.lines)))
	for i := range len(l.lines) {
		ln := l.lines[(l.head+i)%len(l.lines)]
		if ln.Seq > after {
			out = append(out, ln)
		}
	}
	return out, l.seq
}

// Follow is Lines that waits for at least one line after after. It returns
// what there is (maybe nothing) when the log is closed, and ctx's error when
// ctx ends first. A follower loops on it until it returns no line and a
// closed log (Closed reports that).
func (l *Log) Follow(ctx context.Context, after int) ([]Line, int, error) {
	for {
		l.mu.Lock()
		lines, next := l.linesLocked(after)
		more, closed := l.more, l.closed
		l.mu.Unlock()
		if len(lines) > 0 || closed {
			return lines, next, nil
		}
		select {
		case <-more:
		case <-ctx.Done():
			return nil, after, ctx.Err()
		}
	}
}

// Closed reports whether the process is over (stopped or failed), after
// which no line arrives.
func (l *Log) Closed() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.closed
}

// Last returns the text of the newest line, or "".
func (l *Log) Last() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.lines) == 0 {
		return ""
	}
	return l.lines[(l.head+len(l.lines)-1)%len(l.lines)].Text
}

func (l *Log) add(stream, text string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return
	}
	l.seq++
	ln := Line{Seq: l.seq, Time: time.Now().UTC(), Stream: stream, Text: text}
	if len(l.lines) < l.cap {
		l.lines = append(l.lines, ln)
	} else {
		l.lines[l.head] = ln
		l.head = (l.head + 1) % l.cap
	}
	close(l.more)
	l.more = make(chan struct{})
}

func (l *Log) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.closed {
		l.closed = true
		close(l.more)
	}
}

// lineWriter is the io.Writer os/exec copies one stream into: it cuts the
// bytes into lines.
type lineWriter struct {
	log    *Log
	stream string
	buf    []byte
}

func (w *lineWriter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			w.buf = append(w.buf, p...)
			for len(w.buf) >= maxLineBytes {
				w.log.add(w.stream, string(w.buf[:maxLineBytes]))
				w.buf = append(w.buf[:0], w.buf[maxLineBytes:]...)
			}
			break
		}
		w.buf = append(w.buf, p[:i]...)
		p = p[i+1:]
		for len(w.buf) > maxLineBytes {
			w.log.add(w.stream, string(w.buf[:maxLineBytes]))
			w.buf = append(w.buf[:0], w.buf[maxLineBytes:]...)
		}
		w.log.add(w.stream, string(bytes.TrimSuffix(w.buf, []byte("\r"))))
		w.buf = w.buf[:0]
	}
	return n, nil
}

// flush logs an unfinished last line once the stream has ended.
func (w *lineWriter) flush() {
	if len(w.buf) > 0 {
		w.log.add(w.stream, string(w.buf))
		w.buf = w.buf[:0]
	}
}
