// Package segments owns every walship object format: sealed WAL segments,
// timeline records, and the object keys that name them. Each format carries
// a version; decoding dispatches on it through a registry so a new version is
// added beside the old readers, never in place of them.
//
// # Segment versions
//
// Version 1 (format.go, reader.go, writer.go) is a 112-byte header and the
// codec's encoding of the entries' frames. Version 2 (format_v2.go,
// reader_v2.go, writer_v2.go) holds the same frames and codec, optionally
// sealed in an age envelope (package crypt) to up to MaxRecipients
// recipients, compressed before encrypted; its header adds a flags bit for
// that and the recipients' fingerprints in the clear, so a reader without
// a matching identity says which key it needs (crypt.ErrNoIdentity), and
// its SHA-256 is of the bytes as stored, so CheckStored checks an encrypted
// segment's integrity without a key. NewReader and CheckStored read every
// version; NewReaderWith and CheckStoredWith take the identities
// (ReadOptions). A header alone is read with ReadHeader from the first
// MaxHeaderSize bytes of any version. NewWriter writes version 1,
// NewWriterV2 version 2 (both are a SegmentWriter). Golden stores of each
// version under testdata/ (golden-v1, golden-v2-plain,
// golden-v2-encrypted, golden-mixed) are restored by tests forever.
//
// Store layout (keys relative to a store's prefix):
//
//	segments/TTTTTTTT/FFFFFFFFFFFFFFFFFFFF-LLLLLLLLLLLLLLLLLLLL-MMMMMMMMMMMMMMMMMMMM.wseg
//	    T: timeline, 8 hex digits; F, L: first and last entry index, 20 decimal
//	    digits; M: the newest entry time in the segment, unix nanoseconds, 20
//	    decimal digits. Keys sort by (timeline, first index), so a listing can
//	    seek, and a restore plans by index or by time from keys alone.
//	segments/TTTTTTTT/F-L-M.gN.wseg
//	    generation N (1..2^32-1, no leading zero) of the same segment: a
//	    copy walship migrate wrote (see SegmentName); readers use the
//	    highest generation of a name.
//	timelines/TTTTTTTT.json
//	    one record per timeline: parent, fork index, start index, reason.
//	snapshots/TTTTTTTT/IIIIIIIIIIIIIIIIIIII-<16 hex id>.json
//	    a base snapshot manifest: the data dir holding every entry <= I of
//	    timeline T (files, modes, sizes, SHA-256s, chunk digests); written
//	    after all its chunks, so a manifest's existence means a whole base.
//	    Encrypted (record version 2, snapshot_v2.go): the chunk names and
//	    sizes in the clear, the files sealed.
//	snapshots/inprogress/<id>.json
//	    marker of an upload in progress (owned by package snapshot).
//	chunks/HH/<64 hex>
//	    a content-addressed chunk of base snapshot data (SHA-256 of the raw
//	    bytes), stored once however many manifests use it. Encrypted
//	    (format v2, chunk_v2.go): sealed, named by a keyed HMAC of the raw
//	    bytes instead (the key record under keys/chunk-secret/ holds the
//	    secret, sealed).
//	points/NAME.json
//	    a named restore point (timeline, index, time; pinned or not).
package segments
