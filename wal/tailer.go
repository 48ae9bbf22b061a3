package wal

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"
)

var errClosed = errors.New("wal: tailer is closed")

// Tailer follows a tidwall/wal log that another process writes. It opens the
// source's files read-only and never writes, renames, deletes or locks
// anything there.
//
// Next, Seek and Close must be called from one goroutine at a time (Next is
// the loop's heart; it is not safe to call concurrently with itself).
// Format, Bounds, Scan and SegmentStart may be called from any goroutine at
// any time: they read with their own file handles.
type Tailer struct {
	dir string
	opt Options
	log *slog.Logger
	fmt *formatBox

	// Owned by Next/Seek/Close.
	pos    uint64     // index of the entry the next Next returns
	cur    *segReader // the segment file holding pos, read up to pos
	recs   []fileRec  // earlier files read from, ascending, for rewrite checks
	sticky error      // a *TruncatedFrontError or *RewrittenError, until Seek
	closed bool
	polls  int // cheap polls since the last directory listing
	timer  *time.Timer

	lastObs time.Time // the last observed time handed out
	readAt  time.Time // when the bytes being served were last looked at (observed time)
	warned  bool      // the missing-timestamp warning was logged

	counter lastCounter // for Bounds; own lock
}

// Open prepares to tail the tidwall/wal log in dir, positioned at its first
// entry. It fails with ErrNotWAL (wrapped, naming dir) when dir is missing,
// is not a directory or holds no segment file, and with an error naming the
// file when an explicit Options.Format contradicts the log's bytes.
func Open(dir string, opt Options) (*Tailer, error) {
	opt, err := opt.withDefaults()
	if err != nil {
		return nil, err
	}
	v, err := scanDir(dir)
	if err != nil {
		return nil, fmt.Errorf("open WAL: %w", err)
	}
	t := &Tailer{dir: dir, opt: opt, log: opt.Logger, fmt: newFormatBox(opt.Format), pos: v.first()}
	// Look at the format now, so that a wrong setting fails at startup.
	for _, s := range v.segs {
		r, err := openSeg(dir, s, false)
		if err != nil {
			if os.IsNotExist(err) {
				continue // truncated away while we looked
			}
			return nil, fmt.Errorf("open WAL: %w", err)
		}
		f, err := t.fmt.check(r)
		size := r.st.size
		r.close()
		if err != nil {
			return nil, fmt.Errorf("open WAL: %w", err)
		}
		if f != FormatAuto || size > 0 {
			break
		}
	}
	return t, nil
}

// Format returns the log's format: the one configured, or the one detected
// from its first bytes (FormatAuto while the log holds no bytes yet).
func (t *Tailer) Format() Format { return t.fmt.get() }

// Close releases the open file. The Tailer cannot be used afterwards.
func (t *Tailer) Close() error {
	if t.closed {
		return nil
	}
	t.closed = true
	t.closeCur()
	if t.timer != nil {
		t.timer.Stop()
	}
	return nil
}

// Seek makes the next Next return entry index. It does not look at the log:
// if index was truncated away, Next says so.
func (t *Tailer) Seek(index uint64) error {
	if t.closed {
		return errClosed
	}
	if index == 0 {
		return errors.New("wal: seek to index 0: tidwall/wal indexes start at 1")
	}
	t.sticky = nil
	if c := t.cur; c != nil && c.next != index {
		t.retire()
	}
	t.pos = index
	return nil
}

// Next returns the entry at the position and moves past it. It blocks until
// that entry is completely written, polling every Options.Poll, and returns
// ctx.Err() (unwrapped) when ctx ends first. Entry.Data is a fresh slice the
// caller may keep, unless Options.Borrow is set: then it may be valid only
// until the next call.
//
// Errors: *TruncatedFrontError when the position was truncated away,
// *RewrittenError when a file it returned entries from was rewritten; both
// are returned again by every Next until Seek. A *CorruptError (matching
// ErrCorrupt, naming the file and byte offset) for bytes that do not parse
// where the writer has finished writing, after every entry before them; it
// too is returned again until Seek.
//
// Next observes a truncation that completed before it was called within
// refreshEvery entries: it fstats its open file whenever it must read more
// bytes and at least every refreshEvery entries, which costs no allocation.
// Entries returned from bytes buffered before a truncation were in the log
// when they were read; the agent's fork check compares them with the log
// once the change is seen.
func (t *Tailer) Next(ctx context.Context) (Entry, error) {
	if t.closed {
		return Entry{}, errClosed
	}
	for {
		if t.sticky != nil {
			return Entry{}, t.sticky
		}
		if c := t.cur; c != nil {
			data, st, err := t.read(c)
			if err != nil {
				return Entry{}, err
			}
			if st == stReady {
				return t.stamp(data), nil
			}
		}
		moved, err := t.follow()
		if err != nil {
			return Entry{}, err
		}
		if moved {
			continue
		}
		if err := t.wait(ctx); err != nil {
			return Entry{}, err
		}
	}
}

// read returns the entry at pos from cur, or stWait when cur cannot give it
// (not written yet, or cur was deleted or shrank: follow looks into that).
func (t *Tailer) read(c *segReader) ([]byte, status, error) {
	// Serve from the buffer without an fstat only while the last fstat
	// covers every buffered byte (else changed() would misread a stale
	// size as a shrink) and the whole next entry is buffered.
	known := c.st.size >= c.off+int64(c.w-c.r)
	if c.sinceRefresh >= refreshEvery || !known || !c.bufferedEntry(t.fmt) {
		if err := c.refresh(); err != nil {
			return nil, 0, err
		}
		// Entries served until the next look were first seen now: one clock
		// read per look, not per entry.
		if t.opt.Time.Observed() {
			t.readAt = t.opt.Now()
		}
		c.sinceRefresh = 0
	}
	c.sinceRefresh++
	if c.changed() {
		return nil, stWait, nil
	}
	for c.next < t.pos {
		if _, st, err := c.entry(t.fmt, false); err != nil || st != stReady {
			return nil, st, err
		}
	}
	return c.entry(t.fmt, true)
}

// refreshEvery bounds how many entries are served from buffered bytes
// without an fstat of the file.
const refreshEvery = 64

// stamp makes the Entry for data at pos and advances pos.
func (t *Tailer) stamp(data []byte) Entry {
	e := Entry{Index: t.pos, Data: data}
	t.pos++
	if !t.opt.Time.Observed() {
		ts, why := t.opt.Time.extract(data)
		if why == "" {
			e.Time = ts
			return e
		}
		if !t.warned {
			t.warned = true
			t.log.Warn("wal: entry carries no usable timestamp; using the time it was observed (warned once per run)",
				"dir", t.dir, "index", e.Index, "timestamp", t.opt.Time.String(), "reason", why)
		}
	}
	now := t.readAt
	if now.IsZero() {
		now = t.opt.Now()
	}
	if now.Before(t.lastObs) {
		now = t.lastObs
	}
	t.lastObs = now
	e.Time = now
	return e
}

// wait sleeps one poll interval or until ctx ends. The timer is reused.
func (t *Tailer) wait(ctx context.Context) error {
	if t.timer == nil {
		t.timer = time.NewTimer(t.opt.Poll)
	} else {
		t.timer.Reset(t.opt.Poll)
	}
	select {
	case <-ctx.Done():
		t.timer.Stop()
		return ctx.Err()
	case <-t.timer.C:
		return nil
	}
}

func (t *Tailer) closeCur() {
	t.cur.close()
	t.cur = nil
}

// lastCounter caches how far Bounds counted the last segment file, so that
// frequent calls only parse what is new.
type lastCounter struct {
	mu    sync.Mutex
	index uint64 // first index of the file counted
	id    fileID
	off   int64  // bytes parsed
	next  uint64 // index after the last complete entry seen
}
