// Package migrate rewrites the objects of a store into the current format
// and for the current recipients (walship migrate): every segment into
// format 2 (sealed to Options.Recipients, or plain with none), every
// timeline record and restore point into record version 2 sealed to the
// recipients (or version 1, the plain record, with none), every base
// snapshot into a manifest of record version 2 and chunks of format 2
// under keyed names (version 1 manifest and chunks with none), and every
// key record sealed to the recipients (none with none). Objects already
// in that form are left alone, so a run that was killed continues where it
// stopped: the store itself is the only state.
//
// # Crash safety
//
// At every instant every entry the store held stays restorable from what
// list, verify, restore and prune see.
//
// Segments. Put is create-only and a segment's key carries no version, so
// a segment is never rewritten in place. Its rewrite is filed under the
// same name with the next generation (segments.SegmentName: a key
// "FIRST-LAST-MAXTIME.gN.wseg"; readers treat the generations of one name
// as copies of one segment and use the highest):
//
//  1. list; read each object's header (the plan)
//  2. decode the source (the highest generation an identity opens, or a
//     plain one), write generation max+1 to a scratch file, hashing
//     each entry (index, time, data); a version 1 source whose copy no
//     identity given will open is sealed as it is instead
//     (segments.EncryptV1: no recompression, its SHA-256 checked)
//  3. Put it (create-only)
//  4. Get it back: the same SHA-256 over every byte as the scratch file;
//     its header says version 2, the target recipients, and the source's
//     timeline, range, count, times, raw length, codec and source format;
//     its stored SHA-256 checks out; when an identity opens it (or it is
//     plain) its entries, one by one, equal the source's
//  5. delete the lower generations
//
// A kill before 3 leaves the store as it was (and a scratch file); between
// 3 and 5 two or more copies, restore using the newest; a rerun finds the
// newest already current, checks it against a lower generation as in 4,
// and deletes the lower ones.
//
// Records (timelines/, points/). A timeline record is never absent without
// a restore failing to plan, so it is replaced by compare-and-swap
// (backends.Swapper: GetVersion, then PutIf matching that version), one
// atomic step, then read back and compared. A store without compare-and-
// swap keeps its records as they are (Result says how many): a delete and
// a create would leave a moment, or after a kill an indefinite time,
// without the record. A point deleted meanwhile is not brought back (the
// swap fails its condition).
//
// Identities. The migrator encrypts with public keys only. It needs an
// identity only to open an object encrypted to other recipients than the
// target's (rotation); without one for such an object the plan fails
// before anything is written, naming the fingerprints (crypt.ErrNoIdentity).
// An identity for the target recipients lets step 4 compare entries.
//
// Bases. A base is current when its manifest and every chunk it names are
// in the target form. Any other is stored again as a new base of the same
// position under a new id derived from the old id and the target's
// fingerprints (newBaseID; the manifest key is create-only):
//
//  1. plan: read every manifest without an identity, the header of every
//     chunk a manifest in the target form names; an encrypted source no
//     identity opens fails the plan (crypt.ErrNoIdentity), as does a key
//     record that must be re-sealed and none opens
//  2. encrypted target: pick the chunk secret (a key record's an identity
//     opens, unless a base being rewritten uses it; else a new one) and
//     store its record for the target (create-only) before any chunk
//  3. per file, in order: read each chunk of the source (the file's size
//     and SHA-256 checked at the end), Put it in the target form
//     (create-only; one already there is checked the same), read it back:
//     stored SHA-256, header in the target form, and with an identity for
//     the target its bytes equal the source's
//  4. Put the manifest, read it back (target form, clear fields, chunk
//     list, every chunk present; opened: every file), else delete it
//  5. delete the old manifest
//  6. cleanup, unless a fresh in-progress marker says an upload is under
//     way: delete every chunk no manifest names (prune's rule) and the key
//     records of secrets no base uses; re-seal the records of secrets
//     target-form bases use (the target's written, read back) and delete
//     those of other recipients
//
// A kill before 4 leaves unreferenced chunks, deleted by the rerun's (or a
// prune's) cleanup; between 4 and 5 two whole bases of one position, which
// planning, verify and prune accept; the rerun finds the derived id stored
// and current and deletes the old manifest (when the identities open both,
// once their files compare equal). Migrate writes no in-progress
// marker, so that a killed run's chunks are not held back.
package migrate
