package segments

import (
	"fmt"
	"strconv"
	"strings"
)

// Snapshot manifest keys:
//
//	snapshots/TTTTTTTT/IIIIIIIIIIIIIIIIIIII-XXXXXXXXXXXXXXXX.json
//	    T: timeline, 8 lowercase hex digits; I: the WAL index the snapshot
//	    contains, 20 decimal digits; X: the snapshot's random id, 16 lowercase
//	    hex digits. Keys sort by (timeline, index), so the newest base at or
//	    before a target is found from a listing alone.
const (
	SnapshotsPrefix = "snapshots/"
	snapshotSuffix  = ".json"
	// SnapshotIDLen is the length of a snapshot id in hex digits.
	SnapshotIDLen = 16
)

// SnapshotName is what a manifest's key says about it.
type SnapshotName struct {
	Timeline uint32
	Index    uint64 // every entry <= Index is in the snapshot
	ID       string // SnapshotIDLen lowercase hex digits
}

// Key returns the manifest's object key.
func (n SnapshotName) Key() string {
	return fmt.Sprintf("%s%08x/%020d-%s%s", SnapshotsPrefix, n.Timeline, n.Index, n.ID, snapshotSuffix)
}

// SnapshotTimelinePrefix is the listing prefix of one timeline's snapshots.
func SnapshotTimelinePrefix(tl uint32) string {
	return fmt.Sprintf("%s%08x/", SnapshotsPrefix, tl)
}

// ParseSnapshotKey parses a manifest key strictly: anything else under the
// snapshots prefix (a hostile or foreign name) is an error, and a parsed
// name prints back to the very key.
func ParseSnapshotKey(key string) (SnapshotName, error) {
	var n SnapshotName
	bad := fmt.Errorf("not a snapshot manifest key: %q", key)
	rest, ok := strings.CutPrefix(key, SnapshotsPrefix)
	tl, name, ok2 := strings.Cut(rest, "/")
	name, ok3 := strings.CutSuffix(name, snapshotSuffix)
	if !ok || !ok2 || !ok3 || len(tl) != 8 || len(name) != 21+SnapshotIDLen || name[20] != '-' {
		return n, bad
	}
	t, err := strconv.ParseUint(tl, 16, 32)
	if err != nil || t == 0 || strings.ToLower(tl) != tl {
		return n, bad
	}
	idx, err := parseDigits(name[:20])
	if err != nil || ValidSnapshotID(name[21:]) != nil {
		return n, bad
	}
	n = SnapshotName{Timeline: uint32(t), Index: idx, ID: name[21:]}
	if n.Key() != key {
		return SnapshotName{}, bad
	}
	return n, nil
}

// ValidSnapshotID checks an id: SnapshotIDLen lowercase hex digits.
func ValidSnapshotID(id string) error {
	if len(id) != SnapshotIDLen {
		return fmt.Errorf("invalid snapshot id %q: want %d lowercase hex digits", id, SnapshotIDLen)
	}
	for _, c := range id {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return fmt.Errorf("invalid snapshot id %q: want %d lowercase hex digits", id, SnapshotIDLen)
		}
	}
	return nil
}
