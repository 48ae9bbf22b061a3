// Package compact merges a store's small segments into larger ones, so that
// the number of objects grows with hours of history, not with seconds.
//
// # Levels
//
// Options.Levels are time windows, shortest first (default one minute, then
// one hour). A segment belongs to the window of each level that holds the
// newest entry time its key names (MAXTIME, see segments.SegmentName). At
// each level, a run of two or more segments of one timeline that hold
// consecutive entries (each starts right after the one before it ends) and
// share a window that closed at least Options.Delay ago is merged into one
// segment holding the same entries, at most Options.MaxBytes of inputs per
// output. A pass works the levels in order, so seconds become minutes and
// minutes become an hour in the same pass once the hour has closed. It
// lists a timeline's segments in batches of Options.ListBatch, so its
// memory does not grow with the history, and a later pass may list a
// timeline only from where the last one settled (Result.Settled).
//
// # Keys and readers
//
// A merged segment is an ordinary format v1 segment under the ordinary key
// segments/TIMELINE/FIRST-LAST-MAXTIME.wseg of its first and last entry:
// readers need nothing new. Its key sorts beside its inputs' and it holds
// every entry they hold, so a store in any state of compaction (inputs and
// output side by side after a crash, or during the grace period) restores,
// verifies, copies and prunes as it is: restore covers each index with the
// segment that reaches furthest, and verify and restore compare every two
// segments that hold the same entries.
//
// # Deleting inputs
//
// A segment contained in another (its range inside the other's; of two
// with the same range, the one whose key sorts later) is deleted only when
//
//   - the container was written (its ModTime in the listing) at least
//     Options.Grace ago, so a restore planned before it existed has had that
//     long to fetch what it planned; and
//   - both are read in full again, every check of the format passes, and
//     every entry of the contained segment equals the container's entry at
//     the same index (index and data).
//
// A contained segment that differs is never deleted: it is reported as a
// conflict, as verify reports it. Compaction deletes only keys under
// segments/ that parse as segment keys; nothing else in the store is ever
// read, changed or deleted.
//
// # Crash safety
//
// An output is built in a temporary file and stored create-only; its
// inputs are deleted by a later pass, after the grace period, by the rule
// above. A kill at any point leaves the store holding every entry it held
// (inputs, output, or both); the next pass finishes the work. An output
// that already exists (an earlier pass stored it and died) is compared
// with the one just built and kept if equal.
//
// # Encrypted segments
//
// A run holding an encrypted segment merges only with Options.Identities
// that open each of its segments and Options.Recipients to seal the output
// to (format 2); the comparison before deleting opens the container with
// the same identities. Without them the run is skipped (the agent, which
// holds only public keys, never merges encrypted segments), so encrypted
// entries are never written plain.
package compact
