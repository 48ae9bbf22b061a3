// Package snapshot captures, uploads, lists and restores base snapshots: a
// copy of the database's data directory paired with the WAL index it
// contains (every entry <= Index is in it). A restore to a target is the
// newest base at or before it plus a short WAL replay.
//
// Capture sources, all first-class:
//
//   - Command: a user command prints {"dir": "...", "index": N} naming a
//     consistent checkpoint directory; an optional release command gets the
//     directory back when the upload is over.
//   - Freeze: optional freeze/thaw commands bracket a hard-link copy of the
//     data dir into a staging dir in the agent's state dir. Files the database
//     modifies in place after the freeze are detected while uploading
//     (ErrModifiedDuringSnapshot); files it replaces by rename are not a
//     problem, the links keep the old inodes.
//   - Source: a directory and index handed in by an embedding program,
//     uploaded by Upload.
//
// Upload splits every file into fixed-size chunks, names each chunk by the
// SHA-256 of its bytes (segments.ChunkKey) and stores only chunks the store
// does not hold yet, learnt from one listing of chunks/ up front: unchanged
// files cost nothing but their reading. The manifest (segments.
// SnapshotManifest) is written last, so a snapshot exists exactly when its
// manifest does; an interrupted upload leaves only chunks, garbage for a
// later prune. An upload to recipients (Options.Recipients, or one Target
// per store group) is encrypted: the key record first, then chunks
// (segments format v2) named by the ChunkSecret's HMAC, then a manifest
// whose file list is sealed (targets.go).
//
// RestoreFiles (RestoreFilesWith, with identities for an encrypted
// snapshot) rebuilds a data directory from a manifest in a temporary
// sibling directory, verifying every chunk against its name and every file's
// size and SHA-256, and renames it into place only when all of it checked
// out. Paths are validated (segments.SnapshotManifest.Validate) and written
// through an os.Root with O_EXCL, symlinks last, so neither a hostile
// manifest nor a symlink the restore itself created can make it write
// outside the directory.
package snapshot
