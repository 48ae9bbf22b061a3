package backends

import "io"

// LocalBody is implemented by a Put body that wraps another to pace or
// watch what crosses the link (a throttled or deadline-watched body):
// LocalBody returns the body it wraps. A store reads that one for a pass
// that sends nothing, such as the digest it computes before an upload, so
// the pass is neither paid for as upload traffic nor counted as progress.
// The wrapper keeps no position of its own: a Seek on either moves both.
type LocalBody interface {
	LocalBody() io.ReadSeeker
}

// Local returns the innermost body of r: r itself when it wraps none.
func Local(r io.ReadSeeker) io.ReadSeeker {
	for {
		lb, ok := r.(LocalBody)
		if !ok {
			return r
		}
		r = lb.LocalBody()
	}
}
