package pitr

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/walship/walship/backends"
	"github.com/walship/walship/segments"
)

// CopyStats is what Copy did.
type CopyStats struct {
	Copied  int      `json:"copied"`  // objects written to the destination
	Bytes   int64    `json:"bytes"`   // their bytes
	Present int      `json:"present"` // objects the destination already had
	Skipped []Damage `json:"skipped"` // source objects not copied, and why
}

// Copy backfills dst with every walship object of src that dst lacks: a
// new store joining a replica set, or a damaged one being repaired. Each
// object is checked before it is written (segments: header CRC, SHA-256 and
// key; records: envelope checksum), so damage is never copied. Data objects
// go before the records that refer to them (segments and chunks before
// timeline, snapshot and restore point records). It is resumable: a rerun
// lists both stores and copies only what is still missing. Rate limits are
// the caller's: wrap dst (or src) in a throttle decorator.
func Copy(ctx context.Context, src, dst backends.Store, parallel int, tmpDir string) (CopyStats, error) {
	var stats CopyStats
	if parallel < 1 {
		parallel = 4
	}
	have := map[string]int64{}
	if err := dst.List(ctx, "", "", func(oi backends.ObjectInfo) error {
		have[oi.Key] = oi.Size
		return nil
	}); err != nil {
		return stats, fmt.Errorf("copy: list destination %s: %w", dst, err)
	}
	var todo []backends.ObjectInfo
	if err := src.List(ctx, "", "", func(oi backends.ObjectInfo) error {
		if size, ok := have[oi.Key]; ok {
			if size != oi.Size {
				stats.Skipped = append(stats.Skipped, Damage{oi.Key, fmt.Sprintf("destination holds %d bytes, source %d: left alone, run walship verify on both", size, oi.Size)})
			} else {
				stats.Present++
			}
			return nil
		}
		todo = append(todo, oi)
		return nil
	}); err != nil {
		return stats, fmt.Errorf("copy: list source %s: %w", src, err)
	}
	sort.SliceStable(todo, func(i, j int) bool { return copyRank(todo[i].Key) < copyRank(todo[j].Key) })
	var mu sync.Mutex
	for rank := 0; rank <= 2; rank++ { // a rank is finished before the next starts
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(parallel)
		for _, oi := range todo {
			if copyRank(oi.Key) != rank {
				continue
			}
			g.Go(func() error {
				n, problem, err := copyOne(gctx, src, dst, oi, tmpDir)
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err != nil:
					return err
				case problem != "":
					stats.Skipped = append(stats.Skipped, Damage{oi.Key, problem})
				default:
					stats.Copied++
					stats.Bytes += n
				}
				return nil
			})
		}
		if err := g.Wait(); err != nil {
			return stats, err
		}
	}
	return stats, nil
}

// copyRank orders objects: data first, records that refer to data after,
// unknown keys last (they are skipped).
func copyRank(key string) int {
	switch {
	case strings.HasPrefix(key, segments.SegmentsPrefix), strings.HasPrefix(key, "chunks/"):
		return 0
	case strings.HasPrefix(key, segments.TimelinesPrefix), strings.HasPrefix(key, "snapshots/"), strings.HasPrefix(key, "points/"):
		return 1
	}
	return 2
}

// copyOne copies one object through a temp file. A problem with the
// source object is returned as text (the copy goes on); a failure of either
// store is an error.
func copyOne(ctx context.Context, src, dst backends.Store, oi backends.ObjectInfo, tmpDir string) (int64, string, error) {
	if copyRank(oi.Key) == 2 {
		return 0, "not a walship object key: not copied", nil
	}
	f, err := os.CreateTemp(tmpDir, "walship-copy-*")
	if err != nil {
		return 0, "", fmt.Errorf("copy %s: %w", oi.Key, err)
	}
	defer func() { f.Close(); os.Remove(f.Name()) }()
	rc, err := src.Get(ctx, oi.Key, 0, -1)
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
	if problem := checkObject(oi.Key, f); problem != "" {
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
func checkObject(key string, r io.Reader) string {
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
		if segments.NameOf(h) != name {
			return "damaged in the source: header does not match key"
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
	}
	return ""
}
