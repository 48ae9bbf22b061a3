// Package segments owns every walship object format: sealed WAL segments,
// timeline records, and the object keys that name them. Each format carries
// a version; decoding dispatches on it through a registry so a new version is
// added beside the old readers, never in place of them.
//
// Store layout (keys relative to a store's prefix):
//
//	segments/TTTTTTTT/FFFFFFFFFFFFFFFFFFFF-LLLLLLLLLLLLLLLLLLLL-MMMMMMMMMMMMMMMMMMMM.wseg
//	    T: timeline, 8 hex digits; F, L: first and last entry index, 20 decimal
//	    digits; M: the newest entry time in the segment, unix nanoseconds, 20
//	    decimal digits. Keys sort by (timeline, first index), so a listing can
//	    seek, and a restore plans by index or by time from keys alone.
//	timelines/TTTTTTTT.json
//	    one record per timeline: parent, fork index, start index, reason.
//	snapshots/TTTTTTTT/IIIIIIIIIIIIIIIIIIII-<16 hex id>.json
//	    a base snapshot manifest: the data dir holding every entry <= I of
//	    timeline T (files, modes, sizes, SHA-256s, chunk digests); written
//	    after all its chunks, so a manifest's existence means a whole base.
//	snapshots/inprogress/<id>.json
//	    marker of an upload in progress (owned by package snapshot).
//	chunks/HH/<64 hex>
//	    a content-addressed chunk of base snapshot data (SHA-256 of the raw
//	    bytes), stored once however many manifests use it.
//	points/NAME.json
//	    a named restore point (timeline, index, time; pinned or not).
package segments
