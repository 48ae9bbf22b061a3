package pitr

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/walship/walship/crypt"
	"github.com/walship/walship/segments"
)

// decodeAheadBytes bounds the decoded entries a segment's decoder holds
// before the writer takes them. Each fetched segment is decoded (zstd,
// per-entry CRC32C) while earlier segments are written: one larger than
// inlineDecodeMax by a goroutine of its own, a small one by one of a few
// long-lived decoders, so decoding runs on every core and overlaps the writer,
// however large the segment (a compacted one may hold hours). With at most
// Parallel+1 segments fetched and not yet written, the decoded entries in
// memory stay under (Parallel+1) * decodeAheadBytes. 0: the writer decodes
// each segment from its file. A variable so tests take every way.
var decodeAheadBytes int64 = 16 << 20

// entrySource is what the writer reads a segment's entries from: a
// segments.Reader over the fetched file, or its decoder goroutine.
type entrySource interface {
	Next() (segments.Entry, error)
	Close()
}

// streamed is a segment being decoded by its own goroutine: batches of
// entries flow to the writer through ch, which holds at most
// streamBatches batches of about budget/streamBatches bytes each. After
// the entries, Next returns end: io.EOF when the reader's checks after the
// last entry (payload end, SHA-256) passed, else the reader's error, in
// the same place the writer would meet it reading the file, so the first
// bad segment in index order is still the one reported.
type streamed struct {
	ch   chan []segments.Entry
	end  error // written before ch is closed
	cur  []segments.Entry
	stop chan struct{}
	once sync.Once
	done chan struct{} // closed when the goroutine has exited and removed the file
}

const streamBatches = 16

// errStopped ends a decoder whose segment the writer no longer wants.
var errStopped = errors.New("decoding stopped")

// decodeStream starts decoding the fetched segment src, up to entry to (to
// its end when to is its last). The goroutine owns src and removes it when
// it ends: at the end of the segment, on Close, or when ctx ends.
func decodeStream(ctx context.Context, src localCopy, to, last uint64, budget int64, ids []*crypt.Identity) *streamed {
	s := &streamed{ch: make(chan []segments.Entry, streamBatches), stop: make(chan struct{}), done: make(chan struct{})}
	go s.run(ctx, src, to, last, max(budget/streamBatches, 1), ids)
	return s
}

func (s *streamed) run(ctx context.Context, src localCopy, to, last uint64, batchBytes int64, ids []*crypt.Identity) {
	defer close(s.done)
	defer src.remove()
	defer close(s.ch)
	s.end = decodeEntries(src, to, last, batchBytes, ids, func(batch []segments.Entry) error {
		select {
		case s.ch <- batch:
			return nil
		case <-s.stop:
			return errStopped
		case <-ctx.Done():
			return ctx.Err()
		}
	})
}

// inlineDecodeMax is the largest segment (in entry bytes, Header.RawLen)
// that one of the restore's long-lived decoders decodes at once, holding
// all its entries, rather than a goroutine of its own beside the writer: a
// one-second segment decodes in well under a millisecond, less than a new
// goroutine and its channel cost. A variable so tests take both ways.
var inlineDecodeMax uint64 = 256 << 10

// decodeNow decodes the fetched segment src (up to entry to) at once and
// returns its entries as a finished stream; src is removed.
func decodeNow(ctx context.Context, src localCopy, to, last uint64, ids []*crypt.Identity) *streamed {
	s := &streamed{stop: make(chan struct{}), done: make(chan struct{})}
	defer close(s.done)
	defer src.remove()
	var batches [][]segments.Entry
	s.end = decodeEntries(src, to, last, 1<<62, ids, func(batch []segments.Entry) error {
		batches = append(batches, batch)
		return ctx.Err()
	})
	s.ch = make(chan []segments.Entry, len(batches))
	for _, b := range batches {
		s.ch <- b
	}
	close(s.ch)
	return s
}

// decodeEntries reads every entry of src (up to entry to, when to is not
// the last) and hands them to send in batches of about batchBytes. It
// returns what ends the stream: io.EOF when the reader's checks after the
// last entry passed, else the error.
func decodeEntries(src localCopy, to, last uint64, batchBytes int64, ids []*crypt.Identity, send func([]segments.Entry) error) error {
	br, closeSrc, err := src.open()
	if err != nil {
		return err
	}
	defer closeSrc()
	rd, err := segments.NewReaderWith(br, segments.ReadOptions{Identities: ids, Checked: true}) // fetch checked it whole
	if err != nil {
		return err
	}
	defer rd.Close()
	var batch []segments.Entry
	var size int64
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		if err := send(batch); err != nil {
			return err
		}
		batch, size = make([]segments.Entry, 0, len(batch)), 0
		return nil
	}
	for {
		e, err := rd.Next()
		if err == nil && e.Index == to && to != last {
			batch = append(batch, e)
			err = errors.New("decoded ahead only to the plan's last entry")
		}
		if err != nil {
			if ferr := flush(); ferr != nil {
				err = ferr
			}
			return err
		}
		batch = append(batch, e)
		if size += int64(len(e.Data)) + 32; size >= batchBytes {
			if err := flush(); err != nil {
				return err
			}
		}
	}
}

func (s *streamed) Next() (segments.Entry, error) {
	for len(s.cur) == 0 {
		b, ok := <-s.ch
		if !ok {
			return segments.Entry{}, s.end
		}
		s.cur = b
	}
	e := s.cur[0]
	s.cur[0] = segments.Entry{} // the writer is done with it: let it go
	s.cur = s.cur[1:]
	return e, nil
}

// Close stops the decoder and waits until it has removed its file.
func (s *streamed) Close() {
	s.once.Do(func() { close(s.stop) })
	<-s.done
}

// openEntries returns the entries of a fetched segment: those decoded
// ahead, or a reader over its copy.
func openEntries(key string, r fetched, ids []*crypt.Identity) (entrySource, func(), error) {
	if r.dec != nil {
		return r.dec, r.dec.Close, nil
	}
	br, closeSrc, err := r.src.open()
	if err != nil {
		return nil, nil, fmt.Errorf("segment %s: %w", key, err)
	}
	rd, err := segments.NewReaderWith(br, segments.ReadOptions{Identities: ids, Checked: true}) // fetch checked it whole
	if err != nil {
		closeSrc()
		return nil, nil, fmt.Errorf("segment %s: %w", key, err)
	}
	return rd, func() { rd.Close(); closeSrc() }, nil
}
