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
package segments
