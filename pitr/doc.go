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
// Verify reads every object of a store in full and reports damage (bad
// checksums, keys that disagree with headers, unknown keys, broken parent
// links) and gaps (entries of a timeline that no segment holds).
package pitr
