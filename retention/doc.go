// Package retention decides what a store may delete and deletes it safely:
// garbage collection under a retention policy, on the rule of MVCC garbage
// collection under snapshots: nothing a retained restore target needs is
// ever deleted.
//
// # Retained targets
//
// Plan lists timelines/, snapshots/, chunks/, points/ and segments/ once
// each and reads timeline records, snapshot manifests, restore points and
// in-progress markers (never a segment or chunk body). Of the segments it
// keeps only counts per timeline, so its memory does not grow with the
// history; once it knows where each timeline is cut, it lists that
// timeline's segments again up to the cut, to name the ones it deletes.
// The targets it keeps restorable are:
//
//   - the window: every position of the newest timeline's history from the
//     window start to the latest entry (the last entry of the newest
//     timeline's segments, or its fork point if it has none). With Window 0
//     the window starts at the history's first position. Otherwise, walking
//     the history in index order, the first segment whose key says it holds
//     an entry at or after now-Window (MAXTIME >= now-Window) may hold the
//     first entry in the window; a time just before that entry restores to
//     the entry before it, so the window starts at the position before that
//     segment's first entry on the history (the whole straddling segment
//     stays). If no segment reaches the window, every time in it restores
//     the latest entry, and the window is the latest entry alone.
//   - each of the newest Snapshots bases (by timeline, then index), as a
//     target at its own position; all bases when Snapshots is 0.
//   - every pinned restore point.
//
// # What a target needs
//
// A base (timeline X, index I) is on timeline T's history if X is T, or X
// is an ancestor and I is at most the lowest fork index on the way from X
// to T (pitr's rule). For a range of positions From..To of T's history:
//
//   - the timeline records of T's history (the chain to the root);
//   - the newest base at or before From on the history (every base at that
//     index, if several tie) and every base in (From, To]: each is the base
//     a restore to some position of the range starts from. A base kept
//     keeps its manifest and every chunk it names;
//   - every segment from the first entry a restore of the range replays:
//     the entry after the newest base at or before From, or, without one,
//     the start of the gap-free run of the history holding From (where a
//     restore without a base begins), across forks and gaps up to To.
//
// So a retained target restores exactly as it did before the prune: the
// same base, the same segments.
//
// # What is deleted
//
//   - manifests of bases no retained target keeps;
//   - chunks no kept manifest names (orphans of failed uploads included),
//     unless an in-progress marker younger than snapshot.InProgressTTL
//     exists: then no chunk at all (an upload under way stores chunks, and
//     relies on stored ones, before its manifest), and the plan says so;
//   - segments of a timeline on no retained history, all of them; for a
//     timeline on one, the segments wholly before the first entry of it a
//     retained target replays (a segment straddling that entry stays).
//     Never a suffix: a timeline's newest segment always stays while its
//     record does, so a restore of its latest entry never stops short
//     silently; it fails with a clear error instead;
//   - timeline records on no retained target's history;
//   - in-progress markers older than snapshot.InProgressTTL.
//
// Restore point records are never deleted: a point outside the policy and
// unpinned stays listed, and a restore of it fails with pitr's clear error
// once what it needed is gone. Keys under the walship prefixes that are not
// walship keys are never deleted. A record Plan cannot read (ErrUnreadable)
// or a history it cannot follow for a retained target (ErrBrokenHistory)
// stops it: prune never guesses.
//
// # Deleting safely
//
// Execute deletes in an order that keeps every retained target restorable
// and never leaves a base that looks restorable but is not, whenever it
// stops (error, cancel, kill -9): manifests, then their chunks (looking for
// new manifests and in-progress markers before every batch), then
// segments, then timeline records (newest first), then expired markers. A
// timeline record or pinned point that appears after the plan stops it
// (ErrChanged). Prune is Plan plus Execute, for an agent's schedule. A
// store is pruned by what it holds itself: with several stores, prune each.
package retention
