// Package throttle owns walship's rate limits: upload and download bytes per
// second and requests per second, for all stores together (a global Limiter)
// and for each store (a per-store Limiter), with two priorities so live WAL
// segments never queue behind bulk bytes, and limits that can be changed at
// run time.
//
// Limits are enforced with golang.org/x/time/rate token buckets. Callers do
// not wait on the rate.Limiter directly: each bucket puts a small scheduler in
// front of it (bucket.go) that hands tokens out strictly by priority, FIFO
// within a priority, and only to the waiter at the head of the queue. Nothing
// is reserved ahead of time, so a high-priority waiter that arrives while a
// bulk transfer waits goes first, and a new limit (Limiter.Set) applies to
// waiters already queued.
//
// Bytes move in chunks of at most MaxChunk, each paid for separately, so a
// large low-priority transfer holds the link for at most one chunk before a
// WAL upload can get in. A bucket's burst is about a tenth of a second of its
// rate (never less than MinBurst bytes), which keeps the achieved rate within
// a few percent of the configured one over any window of a second or more.
//
// Entry points: New and Limiter.Set (limits), WithPriority (mark bulk work
// Low; unmarked work is High), NewStore (a backends.Store decorator), Reader
// (a throttled io.Reader for restore paths) and Limiter.Stats (counters for
// the "throttle wait seconds" metric).
package throttle
