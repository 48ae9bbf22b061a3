// Package agent is walship's long-running replicate loop:
//
//	wal.Tailer --> sealer --> spool (state dir, fsynced) --> shipper per store --> backends.Store
//	                 |                                           |
//	                 +-- fork check: TruncateBack/TruncateFront   +-- upload, verify (size + header with
//	                     starts a new timeline                        payload SHA-256), then advance cursor
//
// The state dir holds state.json (timelines, the last sealed entry, one cursor
// per store), the spool of sealed segments not yet in every store, and a
// lock file. An entry counts as shipped to a store only after the store
// confirmed and the agent verified the object; cursors move only then and are
// persisted atomically (temp file, fsync, rename, fsync dir). A sealed
// segment leaves the spool only when every store's cursor is past it.
package agent
