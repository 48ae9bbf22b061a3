package pitr

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// Damage is an object Verify found wrong.
type Damage struct {
	Key     string `json:"key"`
	Problem string `json:"problem"`
}

// Gap is a run of entries: in Report.Gaps, entries of a timeline's own
// range that no intact segment holds; in Report.Lost, entries the agent
// recorded as truncated by the database before it shipped them.
type Gap struct {
	Timeline uint32 `json:"timeline"`
	From     uint64 `json:"from"`
	To       uint64 `json:"to"`
}

// Report is what Verify found.
type Report struct {
	Objects    int `json:"objects"`               // every object in the store
	Segments   int `json:"segments"`              // objects with a segment key
	Timelines  int `json:"timelines"`             // objects with a timeline record key
	Snapshots  int `json:"snapshots"`             // objects with a snapshot manifest key
	Chunks     int `json:"chunks"`                // objects with a chunk key
	Points     int `json:"points"`                // objects with a restore point key
	KeyRecords int `json:"key_records,omitempty"` // objects with a key record key (keys/chunk-secret/)
	// SealedSnapshots and SealedChunks are encrypted manifests and chunks
	// no identity given opens: checked as stored (header, size, SHA-256
	// of the stored bytes), their content not.
	SealedSnapshots int `json:"sealed_snapshots,omitempty"`
	SealedChunks    int `json:"sealed_chunks,omitempty"`
	// SealedSegments are encrypted segments no identity given opens:
	// checked as stored (header, size, SHA-256 of the ciphertext); their
	// entries are counted from the header, not read.
	SealedSegments int      `json:"sealed_segments,omitempty"`
	Entries        uint64   `json:"entries"`               // entries in intact segments
	Bytes          int64    `json:"bytes"`                 // bytes of every object
	InProgress     int      `json:"in_progress_snapshots"` // markers of snapshot uploads running or interrupted
	Damaged        []Damage `json:"damaged"`
	Gaps           []Gap    `json:"gaps"`
	// Conflicts are pairs of intact segments of one timeline that hold
	// different entries at the same index: two logs shipped to one prefix.
	// No restore through them can be trusted, so they count as damage.
	Conflicts []Conflict `json:"conflicts"`
	Lost      []Gap      `json:"lost"` // recorded, not damage: see Gap
	// Replaced are segments listed but gone when read whose entries are
	// still stored: another listed segment holds their range (compaction
	// deleted them), or another generation of them (a migration). Not
	// damage.
	Replaced int `json:"replaced,omitempty"`
	// BeforeBase are runs at the start of a timeline's own range that no
	// segment holds but an intact base of that timeline at or after them
	// does: what prune removes on purpose. Not damage; targets inside them
	// are not restorable, the base and what follows it are.
	BeforeBase []Gap `json:"before_base,omitempty"`
	// Retired are runs at the start of an older timeline's own range that
	// no segment holds and no later timeline needs: every child sharing
	// them has them before an intact base of its history, or no child
	// shares them (a child that started anew, fork_index 0). What prune
	// removes of a timeline no retained target replays. Not damage;
	// targets inside them are not restorable.
	Retired []Gap `json:"retired,omitempty"`
	// UnrestorablePoints are intact restore point records that no restore
	// can reach from the intact objects of the store (Key: the point's
	// key): a broken promise to whoever marked them, but not damage to an
	// object, so OK does not count them.
	UnrestorablePoints []Damage `json:"unrestorable_points"`
	// Since, NotRead and NotReadBytes: with VerifyOptions.Since, the
	// segments and chunks older than Since that were listed and not read.
	Since        time.Time `json:"since,omitzero"`
	NotRead      int       `json:"not_read,omitempty"`
	NotReadBytes int64     `json:"not_read_bytes,omitempty"`
}

// OK reports whether the store is free of damage and gaps.
func (r *Report) OK() bool { return len(r.Damaged) == 0 && len(r.Gaps) == 0 && len(r.Conflicts) == 0 }

// Describe writes the report for a person.
func (r *Report) Describe(w io.Writer) {
	var b strings.Builder
	fmt.Fprintf(&b, "%d objects, %s: %d segments holding %d intact entries, %d timeline records, %d snapshots, %d chunks, %d restore points\n",
		r.Objects, humanBytes(r.Bytes), r.Segments, r.Entries, r.Timelines, r.Snapshots, r.Chunks, r.Points)
	if !r.Since.IsZero() {
		fmt.Fprintf(&b, "--since %s: %d segments and chunks (%s) older than that were listed, not read\n",
			r.Since.UTC().Format(time.RFC3339), r.NotRead, humanBytes(r.NotReadBytes))
	}
	if r.InProgress > 0 {
		fmt.Fprintf(&b, "%d snapshot upload(s) in progress or interrupted (their chunks are reclaimed by prune once the marker expires)\n", r.InProgress)
	}
	r.describeSealed(&b)
	if r.Replaced > 0 {
		fmt.Fprintf(&b, "%d segment(s) were compacted or migrated while verify ran (listed, then gone): their entries were read from the segments that hold them now\n", r.Replaced)
	}
	for _, d := range r.Damaged {
		fmt.Fprintf(&b, "DAMAGED %s: %s\n", d.Key, d.Problem)
	}
	for _, c := range r.Conflicts {
		fmt.Fprintf(&b, "CONFLICT %s: two different logs were shipped to this prefix; a restore that needs entry %d refuses to guess\n", c, c.Index)
	}
	for _, g := range r.Gaps {
		fmt.Fprintf(&b, "GAP timeline %d: no intact segment holds entries %d..%d\n", g.Timeline, g.From, g.To)
	}
	for _, g := range r.BeforeBase {
		fmt.Fprintf(&b, "pruned before a base timeline %d: entries %d..%d are in a base snapshot, no longer in segments\n", g.Timeline, g.From, g.To)
	}
	for _, g := range r.Retired {
		fmt.Fprintf(&b, "pruned from a timeline later ones left behind: timeline %d entries %d..%d are no longer stored; no later timeline needs them\n", g.Timeline, g.From, g.To)
	}
	for _, g := range r.Lost {
		fmt.Fprintf(&b, "lost before shipping (recorded by the agent) timeline %d: entries %d..%d\n", g.Timeline, g.From, g.To)
	}
	for _, d := range r.UnrestorablePoints {
		fmt.Fprintf(&b, "UNRESTORABLE POINT %s: %s\n", d.Key, d.Problem)
	}
	if r.OK() {
		b.WriteString("OK: no damage, no gaps")
		if n := len(r.UnrestorablePoints); n > 0 {
			fmt.Fprintf(&b, " (but %d restore point(s) cannot be restored, see above)", n)
		}
		b.WriteString("\n")
	}
	io.WriteString(w, b.String())
}
