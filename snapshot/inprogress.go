package snapshot

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/walship/walship/backends"
	"github.com/walship/walship/segments"
)

// In-progress markers tell a concurrent prune that a snapshot upload is
// under way. Upload stores chunks before its manifest, and skips chunks the
// store already holds, so until the manifest exists its chunks (new ones
// and old ones it relies on) look unreferenced. Upload writes a marker
// before it lists chunks/ and deletes it after the manifest is stored; a
// prune deletes no chunk while a marker younger than InProgressTTL exists.
//
//	snapshots/inprogress/<16 lowercase hex>.json
//	{"format":"walship.snapshot-inprogress","version":1,"id":"...","started":"RFC3339"}
//
// The key is not a manifest key (ParseSnapshotKey rejects it: "inprogress"
// is not an 8-digit timeline), so List and Load never see a marker. A marker
// left behind by a crashed agent expires after InProgressTTL; prune deletes
// expired ones.
const (
	InProgressPrefix = segments.SnapshotsPrefix + "inprogress/"
	// InProgressTTL is how long a marker holds chunk deletion back.
	InProgressTTL    = 24 * time.Hour
	inProgressFormat = "walship.snapshot-inprogress"
	inProgressSuffix = ".json"
	maxMarkerSize    = 4 << 10
	markerTimeout    = 30 * time.Second
)

// InProgress is the body of an in-progress marker.
type InProgress struct {
	Format  string    `json:"format"`
	Version int       `json:"version"`
	ID      string    `json:"id"`
	Started time.Time `json:"started"`
}

// InProgressKey is the key of the marker with the given id.
func InProgressKey(id string) string { return InProgressPrefix + id + inProgressSuffix }

// ParseInProgressKey returns the id a marker key holds, strictly.
func ParseInProgressKey(key string) (string, error) {
	rest, ok := strings.CutPrefix(key, InProgressPrefix)
	id, ok2 := strings.CutSuffix(rest, inProgressSuffix)
	if !ok || !ok2 || segments.ValidSnapshotID(id) != nil {
		return "", fmt.Errorf("not an in-progress marker key: %q", key)
	}
	return id, nil
}

// EncodeInProgress returns the marker bytes.
func EncodeInProgress(id string, started time.Time) ([]byte, error) {
	if err := segments.ValidSnapshotID(id); err != nil {
		return nil, err
	}
	b, err := json.Marshal(InProgress{Format: inProgressFormat, Version: 1, ID: id, Started: started.UTC().Round(0)})
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// DecodeInProgress parses a marker.
func DecodeInProgress(b []byte) (InProgress, error) {
	var m InProgress
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return m, fmt.Errorf("%w: in-progress marker: %v", ErrCorrupt, err)
	}
	if m.Format != inProgressFormat || m.Version != 1 || segments.ValidSnapshotID(m.ID) != nil || m.Started.IsZero() {
		return m, fmt.Errorf("%w: in-progress marker %+v", ErrCorrupt, m)
	}
	return m, nil
}

// ReadInProgress reads and decodes the marker at key.
func ReadInProgress(ctx context.Context, st backends.Store, key string) (InProgress, error) {
	id, err := ParseInProgressKey(key)
	if err != nil {
		return InProgress{}, err
	}
	rc, err := st.Get(ctx, key, 0, -1)
	if err != nil {
		return InProgress{}, fmt.Errorf("read %s: %w", key, err)
	}
	b, err := io.ReadAll(io.LimitReader(rc, maxMarkerSize+1))
	rc.Close()
	if err != nil {
		return InProgress{}, fmt.Errorf("read %s: %w", key, err)
	}
	if len(b) > maxMarkerSize {
		return InProgress{}, fmt.Errorf("read %s: %w: larger than %d bytes", key, ErrCorrupt, maxMarkerSize)
	}
	m, err := DecodeInProgress(b)
	if err != nil {
		return m, fmt.Errorf("read %s: %w", key, err)
	}
	if m.ID != id {
		return m, fmt.Errorf("read %s: %w: the marker names id %s", key, ErrCorrupt, m.ID)
	}
	return m, nil
}

// beginUpload stores a fresh in-progress marker and returns its key.
func beginUpload(ctx context.Context, st backends.Store) (string, error) {
	id, err := NewID()
	if err != nil {
		return "", err
	}
	b, err := EncodeInProgress(id, time.Now())
	if err != nil {
		return "", err
	}
	key := InProgressKey(id)
	if err := st.Put(ctx, key, bytes.NewReader(b), int64(len(b))); err != nil {
		return "", fmt.Errorf("store in-progress marker %s: %w", key, err)
	}
	return key, nil
}

// endUpload deletes the marker, even when ctx is cancelled (bounded by a
// timeout). A marker it cannot delete is only logged: it expires.
func endUpload(ctx context.Context, st backends.Store, key string, log *slog.Logger) {
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), markerTimeout)
	defer cancel()
	if err := st.Delete(dctx, key); err != nil {
		log.Warn("snapshot: could not delete the in-progress marker; it expires", "key", key, "ttl", InProgressTTL, "err", err)
	}
}
