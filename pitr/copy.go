package pitr

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/walship/walship/backends"
	"github.com/walship/walship/crypt"
	"github.com/walship/walship/lease"
	"github.com/walship/walship/segments"
	"github.com/walship/walship/snapshot"
)

// CopyStats is what Copy did.
type CopyStats struct {
	Copied  int      `json:"copied"`  // objects written to the destination
	Bytes   int64    `json:"bytes"`   // their bytes
	Present int      `json:"present"` // objects the destination already had
	Skipped []Damage `json:"skipped"` // source objects not copied, and why
	// Replaced are source segments listed but gone when read: compaction
	// or a migration replaced them with segments holding the same entries.
	// Copy lists the source again once after its pass and copies what
	// replaced them; one gone again then is in Skipped.
	Replaced int `json:"replaced,omitempty"`
}

// errGone is copyOne's answer for a source segment gone since it was listed.
var errGone = errors.New("gone from the source since it was listed")

// Copy backfills dst with every walship object of src that dst lacks: a
// new store joining a replica set, or a damaged one being repaired. Each
// object is checked before it is written (segments: header CRC, SHA-256 and
// key; chunks: decoded and hashed against their key; timeline records,
// snapshot manifests and restore points: envelope checksum, format rules,
// key), so damage is never copied; nor is a manifest naming a chunk that
// dst neither holds nor received. Data objects
// go before the records that refer to them (segments and chunks before
// timeline, snapshot and restore point records). It is resumable: a rerun
// lists both stores and copies only what is still missing. Rate limits are
// the caller's: wrap dst (or src) in a throttle decorator.
func Copy(ctx context.Context, src, dst backends.Store, parallel int, tmpDir string) (CopyStats, error) {
	return CopyWith(ctx, src, dst, CopyOptions{Parallel: parallel, TmpDir: tmpDir})
}

// CopyOptions tune CopyWith.
type CopyOptions struct {
	Parallel int    // objects copied at once; default 4
	TmpDir   string // where objects are staged; default the system's
	// Progress, when set, is told the objects dst lacks and their bytes
	// once both stores are listed, and each of them as it is handled
	// (copied, or skipped as damaged). Objects written to either store
	// while Copy runs can make the sums differ from the totals.
	Progress Progress
}

// CopyWith is Copy with options.
//
// Neither store's listing is held (joinListings): a first walk of both
// counts what dst lacks, for Progress (only when there is one); a second copies the data objects as
// it meets them, parallel at a time, and keeps the records and unknown keys
// (a few per timeline, base or point) for after every data object. Only
// the keys of chunks are remembered, to check the manifests against.
func CopyWith(ctx context.Context, src, dst backends.Store, o CopyOptions) (CopyStats, error) {
	stats, err := copyPass(ctx, src, dst, o, false)
	if err != nil || stats.Replaced == 0 {
		return stats, err
	}
	// What replaced the gone segments was written before they were
	// deleted (compaction's grace period, a migration's order), but maybe
	// after this pass listed past its key: one more pass copies it.
	o.Progress = nil
	again, err := copyPass(ctx, src, dst, o, true)
	stats.Copied += again.Copied
	stats.Bytes += again.Bytes
	stats.Skipped = append(stats.Skipped, again.Skipped...)
	return stats, err
}

// copyPass is one walk of both listings. On the last pass a segment gone
// since it was listed is skipped as a problem; before, it is counted in
// Replaced.
func copyPass(ctx context.Context, src, dst backends.Store, o CopyOptions, last bool) (CopyStats, error) {
	var stats CopyStats
	parallel, tmpDir, prog := o.Parallel, o.TmpDir, progressOr(o.Progress)
	if parallel < 1 {
		parallel = 4
	}
	if o.Progress != nil { // the totals cost a walk of both listings
		var todo, todoBytes int64
		if err := joinListings(ctx, src, dst, func(oi backends.ObjectInfo, _ int64, inDst bool) error {
			if copied(oi.Key) && !inDst {
				todo++
				todoBytes += oi.Size
			}
			return nil
		}, nil); err != nil {
			return stats, fmt.Errorf("copy from %s to %s: %w", src, dst, err)
		}
		prog.Total(todo, todoBytes)
	}

	var mu sync.Mutex
	chunks := map[string]bool{} // chunk keys dst holds or received
	// dstHas answers for the chunks a manifest names. It is read in rank 1
	// only, after every data object was handled.
	dstHas := func(key string) bool { return chunks[key] }
	copyAll := func(ctx context.Context, g *errgroup.Group, oi backends.ObjectInfo) {
		g.Go(func() error {
			n, problem, err := copyOne(ctx, src, dst, oi, tmpDir, dstHas)
			if err == nil {
				prog.Add(1, oi.Size)
			}
			mu.Lock()
			defer mu.Unlock()
			switch {
			case errors.Is(err, errGone) && last:
				stats.Skipped = append(stats.Skipped, Damage{oi.Key, "gone from the source while copying, twice (compaction or a migration replacing it): run copy again"})
			case errors.Is(err, errGone):
				stats.Replaced++
			case err != nil:
				return err
			case problem != "":
				stats.Skipped = append(stats.Skipped, Damage{oi.Key, problem})
			default:
				stats.Copied++
				stats.Bytes += n
				if strings.HasPrefix(oi.Key, segments.ChunksPrefix) {
					chunks[oi.Key] = true
				}
			}
			return nil
		})
	}
	var later []backends.ObjectInfo // ranks 1 and 2
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(parallel)
	err := joinListings(gctx, src, dst, func(oi backends.ObjectInfo, dstSize int64, inDst bool) error {
		switch {
		case !copied(oi.Key):
		case inDst && dstSize != oi.Size:
			mu.Lock()
			stats.Skipped = append(stats.Skipped, Damage{oi.Key, fmt.Sprintf("destination holds %d bytes, source %d: left alone, run walship verify on both", dstSize, oi.Size)})
			mu.Unlock()
		case inDst:
			mu.Lock()
			stats.Present++
			if strings.HasPrefix(oi.Key, segments.ChunksPrefix) {
				chunks[oi.Key] = true
			}
			mu.Unlock()
		case copyRank(oi.Key) == 0:
			copyAll(gctx, g, oi)
		default:
			later = append(later, oi)
		}
		return nil
	}, func(oi backends.ObjectInfo) {
		if strings.HasPrefix(oi.Key, segments.ChunksPrefix) {
			mu.Lock()
			chunks[oi.Key] = true
			mu.Unlock()
		}
	})
	if werr := g.Wait(); werr != nil {
		return stats, werr
	}
	if err != nil {
		return stats, fmt.Errorf("copy from %s to %s: %w", src, dst, err)
	}
	for rank := 1; rank <= 2; rank++ { // a rank is finished before the next starts
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(parallel)
		for _, oi := range later {
			if copyRank(oi.Key) == rank {
				copyAll(gctx, g, oi)
			}
		}
		if err := g.Wait(); err != nil {
			return stats, err
		}
	}
	return stats, nil
}

// copied says whether Copy considers a listed key: not another store's
// upload in progress, its agent's lease or a leftover probe.
func copied(key string) bool {
	return !strings.HasPrefix(key, snapshot.InProgressPrefix) && key != lease.Key && !strings.HasPrefix(key, backends.ProbePrefix)
}

// copyRank orders objects: data first, records that refer to data after,
// unknown keys last (they are skipped).
func copyRank(key string) int {
	switch {
	case strings.HasPrefix(key, segments.SegmentsPrefix), strings.HasPrefix(key, "chunks/"), crypt.IsKeyRecordKey(key):
		return 0
	case strings.HasPrefix(key, segments.TimelinesPrefix), strings.HasPrefix(key, "snapshots/"), strings.HasPrefix(key, "points/"):
		return 1
	}
	return 2
}

// copyOne copies one object through a temp file. A problem with the
// source object is returned as text (the copy goes on); a failure of either
// store is an error.
func copyOne(ctx context.Context, src, dst backends.Store, oi backends.ObjectInfo, tmpDir string, dstHas func(key string) bool) (int64, string, error) {
	if copyRank(oi.Key) == 2 {
		return 0, "not a walship object key: not copied", nil
	}
	f, err := os.CreateTemp(tmpDir, "walship-copy-*")
	if err != nil {
		return 0, "", fmt.Errorf("copy %s: %w", oi.Key, err)
	}
	defer func() { f.Close(); os.Remove(f.Name()) }()
	rc, err := src.Get(ctx, oi.Key, 0, -1)
	if backends.IsNotFound(err) && strings.HasPrefix(oi.Key, segments.SegmentsPrefix) {
		return 0, "", fmt.Errorf("copy %s: %w", oi.Key, errGone)
	}
	if err != nil {
		return 0, "", fmt.Errorf("copy %s: %w", oi.Key, err)
	}
	n, err := io.Copy(f, rc)
	rc.Close()
	if err != nil {
		return 0, "", fmt.Errorf("copy %s: read source: %w", oi.Key, err)
	}
	if n != oi.Size {
		return 0, fmt.Sprintf("source object has %d bytes, its listing %d", n, oi.Size), nil
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return 0, "", err
	}
	if problem := checkObject(oi.Key, f, dstHas); problem != "" {
		return 0, problem, nil
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return 0, "", err
	}
	err = dst.Put(ctx, oi.Key, f, n)
	if backends.IsExists(err) {
		return 0, "", nil // written meanwhile (by an agent): fine
	}
	if err != nil {
		return 0, "", fmt.Errorf("copy %s: %w", oi.Key, err)
	}
	return n, "", nil
}

// checkObject verifies an object's checksums by kind; "" means intact.
// dstHas says whether the destination holds a key (for the chunks a
// manifest names).
func checkObject(key string, r io.Reader, dstHas func(key string) bool) string {
	switch {
	case strings.HasPrefix(key, segments.SegmentsPrefix):
		name, err := segments.ParseSegmentKey(key)
		if err != nil {
			return "not a walship segment key: not copied"
		}
		h, err := segments.CheckStored(bufio.NewReader(r))
		if err != nil {
			return "damaged in the source: " + err.Error()
		}
		if segments.NameOf(h) != name.Family() {
			return "damaged in the source: header does not match key"
		}
	case strings.HasPrefix(key, segments.ChunksPrefix):
		d, err := segments.ParseChunkKey(key)
		if err != nil {
			return "not a walship chunk key: not copied"
		}
		if _, err := segments.CheckChunk(bufio.NewReader(r), d); err != nil {
			return "damaged in the source: " + err.Error()
		}
	case strings.HasPrefix(key, segments.TimelinesPrefix):
		id, err := segments.ParseTimelineKey(key)
		if err != nil {
			return "not a walship timeline key: not copied"
		}
		b, err := io.ReadAll(io.LimitReader(r, maxRecordSize+1))
		if err != nil {
			return err.Error()
		}
		t, err := segments.DecodeTimeline(b)
		if err != nil || t.ID != id {
			return fmt.Sprintf("damaged in the source: %v", err)
		}
	case strings.HasPrefix(key, segments.SnapshotsPrefix):
		name, err := segments.ParseSnapshotKey(key)
		if err != nil {
			return "not a walship snapshot manifest key: not copied"
		}
		b, err := io.ReadAll(r)
		if err != nil {
			return err.Error()
		}
		m, err := segments.DecodeSnapshot(b)
		if err != nil {
			return "damaged in the source: " + err.Error()
		}
		if m.Name() != name {
			return fmt.Sprintf("damaged in the source: the manifest describes %s", m.Key())
		}
		var missing []string
		for _, d := range m.ChunkRefs() {
			if k := segments.ChunkKey(d); !dstHas(k) {
				missing = append(missing, k)
			}
		}
		if len(missing) > 0 {
			return fmt.Sprintf("names %d chunk(s) the destination does not hold and that were not copied (missing or damaged in the source), e.g. %s: not copied, it could not be restored there", len(missing), examples(missing))
		}
	case crypt.IsKeyRecordKey(key):
		b, err := io.ReadAll(io.LimitReader(r, crypt.MaxKeyRecordSize+1))
		if err != nil {
			return err.Error()
		}
		if _, err := crypt.ParseKeyRecord(b); err != nil {
			return "damaged in the source: " + err.Error()
		}
	case strings.HasPrefix(key, segments.PointsPrefix):
		name, err := segments.ParsePointKey(key)
		if err != nil {
			return "not a walship restore point key: not copied"
		}
		b, err := io.ReadAll(io.LimitReader(r, maxRecordSize+1))
		if err != nil {
			return err.Error()
		}
		p, err := segments.DecodePoint(b)
		if err != nil {
			return "damaged in the source: " + err.Error()
		}
		if p.Name != name {
			return fmt.Sprintf("damaged in the source: the record names point %q", p.Name)
		}
	}
	return ""
}
