package wal_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/walship/walship/wal"
)

func TestParseTimeSource(t *testing.T) {
	for _, s := range []string{"observed", "json:ts", "json:created at", "be64:0", "be64:17"} {
		ts, err := wal.ParseTimeSource(s)
		if err != nil || ts.String() != s {
			t.Errorf("ParseTimeSource(%q) = %v, %v", s, ts, err)
		}
	}
	if ts, err := wal.ParseTimeSource(""); err != nil || ts.String() != "observed" || !ts.Observed() {
		t.Errorf(`ParseTimeSource("") = %v, %v`, ts, err)
	}
	if (wal.TimeSource{}).String() != "observed" {
		t.Error("zero TimeSource is not observed")
	}
	for _, s := range []string{"json:", "json", "be64:", "be64:-1", "be64:x", "be64:99999999999", "wall", "Observed", "JSON:ts"} {
		if _, err := wal.ParseTimeSource(s); err == nil {
			t.Errorf("ParseTimeSource(%q) succeeded", s)
		}
	}
	var ts wal.TimeSource
	if err := ts.UnmarshalText([]byte("be64:8")); err != nil || ts.String() != "be64:8" {
		t.Errorf("UnmarshalText: %v, %v", ts, err)
	}
	if b, _ := ts.MarshalText(); string(b) != "be64:8" {
		t.Errorf("MarshalText = %s", b)
	}
}

// countHandler counts warnings.
type countHandler struct {
	mu sync.Mutex
	n  int
}

func (h *countHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *countHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if r.Level == slog.LevelWarn {
		h.n++
	}
	return nil
}
func (h *countHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *countHandler) WithGroup(string) slog.Handler      { return h }

func TestTimeSources(t *testing.T) {
	base := time.Date(2024, 5, 6, 7, 8, 9, 123456789, time.UTC)
	clock := base.Add(time.Hour)
	obs := func() time.Time { return clock }
	be := func(prefix string, ts time.Time) []byte {
		return binary.BigEndian.AppendUint64([]byte(prefix), uint64(ts.UnixNano()))
	}
	cases := []struct {
		source   string
		entries  []string
		want     []time.Time
		warnings int
	}{
		{"json:ts", []string{
			`{"ts":"2024-05-06T07:08:09Z"}`,
			`{"a":[1,{"ts":2}],"ts":"2024-05-06T07:08:09.123456789Z","b":"x"}`,
			`{"ts":"2024-05-06T09:08:09+02:00"}`,
			`{"ts":1714979289}`,
			`{"ts":1714979289123}`,
			`{"ts":1714979289123456}`,
			`{"ts":1714979289123456789}`,
			`{"ts":"1714979289123"}`,
			` { "x" : "ts" , "t\u0073" : 1.714979289e9 } `,
			`{"ts":null}`,
			`not json`,
			`{"other":1}`,
		}, []time.Time{
			base.Truncate(time.Second),
			base,
			base.Truncate(time.Second),
			base.Truncate(time.Second),
			base.Truncate(time.Millisecond),
			base.Truncate(time.Microsecond),
			base,
			base.Truncate(time.Millisecond),
			base.Truncate(time.Second),
			clock, clock, clock,
		}, 1},
		{"be64:2", []string{string(be("ab", base)), string(be("cd", base.Add(time.Second))) + "tail", "short"},
			[]time.Time{base, base.Add(time.Second), clock}, 1},
		{"observed", []string{"a", "b"}, []time.Time{clock, clock}, 0},
	}
	for _, tc := range cases {
		t.Run(tc.source, func(t *testing.T) {
			ts, err := wal.ParseTimeSource(tc.source)
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			var entries [][]byte
			for _, e := range tc.entries {
				entries = append(entries, []byte(e))
			}
			writeFile(t, filepath.Join(dir, segName(1)), encode(wal.FormatBinary, 1, entries...))
			h := &countHandler{}
			tl := open(t, dir, wal.Options{Time: ts, Now: obs, Logger: slog.New(h)})
			for i, want := range tc.want {
				e := next(t, tl)
				if !e.Time.Equal(want) {
					t.Errorf("entry %d %q: time %v, want %v", e.Index, tc.entries[i], e.Time, want)
				}
				if !bytes.Equal(e.Data, entries[i]) {
					t.Errorf("entry %d data changed", e.Index)
				}
			}
			if h.n != tc.warnings {
				t.Errorf("%d warnings, want %d", h.n, tc.warnings)
			}
		})
	}
}

// TestObservedMonotonic: observed times never go backwards, even when the
// clock does.
func TestObservedMonotonic(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, segName(1)), encode(wal.FormatBinary, 1, gen(1, 1, 20, 50)...))
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	steps := []time.Duration{0, 5, 3, 3, 10, -100, 11, 2, 20, 19}
	i := 0
	now := func() time.Time { d := steps[i%len(steps)]; i++; return t0.Add(d * time.Second) }
	tl := open(t, dir, wal.Options{Now: now})
	var prev time.Time
	for range 20 {
		e := next(t, tl)
		if e.Time.Before(prev) {
			t.Fatalf("entry %d observed at %v, before the previous %v", e.Index, e.Time, prev)
		}
		prev = e.Time
	}
	// The clock is read when bytes are looked at (once per buffer, not per
	// entry); every time handed out is one of its readings, never one that
	// went backwards.
	if prev.Before(t0) || prev.After(t0.Add(20*time.Second)) || i == 0 {
		t.Errorf("last time %v after %d clock reads, want a reading of the injected clock", prev, i)
	}
	// The default clock works too.
	tl = open(t, dir, wal.Options{})
	if e := next(t, tl); e.Time.IsZero() || time.Since(e.Time) > time.Minute {
		t.Errorf("observed time %v", e.Time)
	}
}

// Appended one at a time, each entry is looked at on its own: the clock is
// read per entry, and a clock that steps back never makes a time go back.
func TestObservedMonotonicPerAppend(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, segName(1))
	es := gen(2, 1, 10, 50)
	writeFile(t, path, nil)
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	steps := []time.Duration{0, 5, 3, 3, 10, -100, 11, 2, 20, 19, 30, 31}
	i := 0
	now := func() time.Time { d := steps[min(i, len(steps)-1)]; i++; return t0.Add(d * time.Second) }
	tl := open(t, dir, wal.Options{Now: now})
	var prev time.Time
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for k, e := range es {
		f.Write(encode(wal.FormatBinary, uint64(k+1), e))
		got := next(t, tl)
		if got.Time.Before(prev) {
			t.Fatalf("entry %d observed at %v, before the previous %v", got.Index, got.Time, prev)
		}
		prev = got.Time
	}
	if i < len(es) {
		t.Fatalf("%d clock reads for %d entries appended one by one", i, len(es))
	}
}
