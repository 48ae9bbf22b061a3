// Package pitr restores a tidwall/wal log from a walship store, lists what a
// store holds and verifies it.
//
// A restore runs in two steps. MakePlan reads only timeline records and
// segment keys (plus at most a few segment headers, and for a time target
// the one segment that holds the target time) and decides which timeline's
// entries make up the restored log and which segments supply them; any
// problem (no backup, a missing parent record, a hole in the segments, a
// target inside entries lost before shipping) is found here, before anything
// is written. Execute then fetches the planned segments in parallel into
// temporary files, checks each one (size against the listing, header CRC,
// payload SHA-256, key against header) before any of its entries is used,
// decodes them in index order (per-entry CRC32C) and writes a log that
// tidwall/wal v1.2.1 opens as if it had written it. The log is built in a
// temporary directory and renamed into place only when it is complete.
//
// History model (written by the agent, see segments.Timeline): timeline 1
// starts where walship first found the log; a child timeline shares its
// parent's entries up to ForkIndex and has its own from StartIndex. A child
// whose StartIndex > ForkIndex+1 has a gap: those entries were truncated by
// the database before walship shipped them, so a restore of that timeline
// starts at StartIndex, exactly like the source log did.
//
// Base snapshots (segments.SnapshotManifest, written by package snapshot): a
// base on timeline X at index I is a copy of the data directory holding
// every entry <= I of X's history. MakePlan picks the newest base whose
// position is on the target's history at or before the target's index N:
// X is the target's timeline (I <= N) or an ancestor, and I is at most the
// lowest fork index on the way from X to the target. It must also be
// usable: entries I+1..N all stored (no lost entries, no segment hole), its
// manifest intact, every chunk it names listed; bases that are not are
// passed over with a note. The plan then restores the base's files into
// OUT_DIR/data (snapshot.RestoreFiles) and writes entries I+1..N as a log
// that starts at I+1; when I == N the log is one empty file named I+1,
// which tidwall opens with AllowEmpty. A base after a hole or after entries
// lost before shipping lets a restore skip them; an error for such a hole
// names a later base if there is one. Without a usable base (or with
// Target.NoBase) the log is replayed from the history's start and no data
// directory is written. A time target resolves to an index first, then
// picks its base. Execute builds the data directory and the log at the same
// time in temporary directories and renames both into place only when both
// are complete.
//
// Restore points (segments.Point at points/<name>.json) name a position:
// Mark resolves one (latest, index or time) and stores it create-only in
// every store of a replica set that holds the entry; Target.Point restores
// to it; ListPoints and DeletePoint manage them.
//
// Verify reads every object of a store in full and reports damage (bad
// checksums, keys that disagree with headers, unknown keys, broken parent
// links, chunks that do not hash to their names, manifests that do not
// decode or name chunks the store lacks or holds damaged, point records
// that do not decode), gaps (entries of a timeline that no segment holds),
// and restore points no restore can reach from the intact objects. Copy
// checks every kind of object the same way before it copies it.
package pitr
