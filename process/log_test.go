package process

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestLogRing(t *testing.T) {
	t.Parallel()
	l := NewLog(3)
	w := &lineWriter{log: l, stream: Stdout}
	_, _ = w.Write([]byte("a\nb\r\nc"))
	if got, _ := l.Lines(0); len(got) != 2 {
		t.Fatalf("unfinished line logged: %v", got)
	}
	_, _ = w.Write([]byte("d\ne\n"))
	got, next := l.Lines(0)
	var texts []string
	for _, ln := range got {
		texts = append(texts, fmt.Sprintf("%d:%s", ln.Seq, ln.Text))
	}
	if s := strings.Join(texts, " "); s != "2:b 3:cd 4:e" || next != 4 {
		t.Fatalf("lines = %s next %d", s, next)
	}
	if got, next := l.Lines(4); got != nil || next != 4 {
		t.Fatalf("Lines(4) = %v, %d", got, next)
	}
	if got, _ := l.Lines(3); len(got) != 1 || got[0].Text != "e" {
		t.Fatalf("Lines(3) = %v", got)
	}
	_, _ = w.Write([]byte("tail"))
	w.flush()
	if l.Last() != "tail" {
		t.Fatalf("last = %q", l.Last())
	}
}

func TestLogLongLineSplit(t *testing.T) {
	t.Parallel()
	l := NewLog(10)
	w := &lineWriter{log: l, stream: Stderr}
	_, _ = w.Write([]byte(strings.Repeat("x", 2*maxLineBytes+5) + "\n"))
	got, _ := l.Lines(0)
	if len(got) != 3 || len(got[0].Text) != maxLineBytes || len(got[2].Text) != 5 || got[0].Stream != Stderr {
		t.Fatalf("%d lines", len(got))
	}
}

func TestLogFollow(t *testing.T) {
	t.Parallel()
	l := NewLog(10)
	go func() {
		time.Sleep(20 * time.Millisecond)
		l.add(Stdout, "late")
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	got, next, err := l.Follow(ctx, 0)
	if err != nil || len(got) != 1 || got[0].Text != "late" || next != 1 {
		t.Fatalf("Follow = %v %d %v", got, next, err)
	}
	short, cancel2 := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel2()
	if _, n, err := l.Follow(short, 1); err == nil || n != 1 {
		t.Fatalf("Follow with nothing new = %d, %v", n, err)
	}
	go func() {
		time.Sleep(10 * time.Millisecond)
		l.close()
	}()
	if got, _, err := l.Follow(ctx, 1); err != nil || got != nil || !l.Closed() {
		t.Fatalf("Follow of a closed log = %v, %v", got, err)
	}
	l.add(Stdout, "after close")
	if _, n := l.Lines(0); n != 1 {
		t.Fatal("a line arrived after close")
	}
}

func TestSpecDefaultsAndValidate(t *testing.T) {
	t.Parallel()
	s := Spec{Command: []string{"x"}}.WithDefaults()
	if s.HealthPath != "/health" || s.StartTimeout != 30*time.Second || s.Grace != 10*time.Second ||
		s.Restart != (Restart{5, 500 * time.Millisecond, 30 * time.Second}) || s.LogLines != 1000 {
		t.Fatalf("defaults = %+v", s)
	}
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	bad := Spec{HealthPath: "health", Env: map[string]string{"A=B": "c"}, Grace: -1,
		Restart: Restart{InitialBackoff: time.Minute, MaxBackoff: time.Second}}
	err := bad.Validate()
	if err == nil {
		t.Fatal("bad spec accepted")
	}
	for _, want := range []string{"command", "health_path", "env", "duration", "restart.initial_backoff"} {
		if !strings.Contains(fmt.Sprintf("%+v", err), want) {
			t.Errorf("%+v lacks %s", err, want)
		}
	}
	r := Restart{InitialBackoff: 500 * time.Millisecond, MaxBackoff: 3 * time.Second}
	var got []time.Duration
	for n := 1; n <= 5; n++ {
		got = append(got, r.backoff(n))
	}
	if fmt.Sprint(got) != "[500ms 1s 2s 3s 3s]" {
		t.Fatalf("backoffs = %v", got)
	}
}
