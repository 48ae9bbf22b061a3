package migrate

import (
	"time"

	"github.com/walship/walship/crypt"
	"github.com/walship/walship/pitr"
)

// Options configure Run. Zero values take the defaults noted.
type Options struct {
	// Recipients are the target: segments and records are sealed to them
	// (at most segments.MaxRecipients). None: plain segment format 2 and
	// plain records.
	Recipients []*crypt.Recipient
	// Identities open sources sealed to other recipients, and new objects
	// for the entry-by-entry check.
	Identities []*crypt.Identity
	// Decrypt allows a plain target (no Recipients) to rewrite encrypted
	// objects in the clear; without it such a plan fails with
	// ErrWouldDecrypt before anything is written.
	Decrypt bool
	// DryRun plans and reports, writing and deleting nothing.
	DryRun bool
	// Scratch is a directory for segments being written; default
	// os.TempDir(). The caller owns it (cleaning files a killed run left).
	Scratch string
	// Parallel is how many segments are rewritten at once; default 2.
	Parallel int
	// CallTimeout bounds every store call (a whole-object Get or Put
	// included); default 10 minutes.
	CallTimeout time.Duration
	// Progress is told the totals and each object rewritten; nil: none.
	Progress Progress
}

// Progress is restore's (pitr.Progress): Total is told how many objects a
// run rewrites and their sources' bytes, once, before the first Add; Add
// counts each object rewritten and checked. Called from several
// goroutines at once: cheap, never blocking.
type Progress = pitr.Progress

type noProgress struct{}

func (noProgress) Total(int64, int64) {}
func (noProgress) Add(int64, int64)   {}

func (o Options) withDefaults() Options {
	if o.Parallel <= 0 {
		o.Parallel = 2
	}
	if o.CallTimeout <= 0 {
		o.CallTimeout = 10 * time.Minute
	}
	if o.Progress == nil {
		o.Progress = noProgress{}
	}
	return o
}

// Kind counts one kind of object.
type Kind struct {
	Objects   int   `json:"objects"`   // listed (a segment's generations count once)
	Current   int   `json:"current"`   // already in the target form
	Rewrite   int   `json:"rewrite"`   // to rewrite (dry run) or rewritten
	Bytes     int64 `json:"bytes"`     // the sources' bytes of Rewrite
	Finished  int   `json:"finished"`  // current already, lower generations deleted now (an interrupted run's)
	Deleted   int   `json:"deleted"`   // objects deleted (sources and lower generations)
	Left      int   `json:"left"`      // left as they are (see Result.Notes)
	Encrypted int   `json:"encrypted"` // of Rewrite: sealed to other recipients (needed an identity)
	Written   int   `json:"written"`   // chunks: new objects stored (not there already)
}

// Result is what a run did, or with DryRun would do.
type Result struct {
	Store      string              `json:"store"`
	DryRun     bool                `json:"dry_run"`
	Format     int                 `json:"format"`     // segment format written: 2
	Recipients []crypt.Fingerprint `json:"recipients"` // the target; empty: plain
	Segments   Kind                `json:"segments"`
	Timelines  Kind                `json:"timelines"`
	Points     Kind                `json:"points"`
	Bases      Kind                `json:"bases"`       // base snapshot manifests
	Chunks     Kind                `json:"chunks"`      // Rewrite: the rewritten bases' chunks; Written: new ones stored
	KeyRecords Kind                `json:"key_records"` // Rewrite: re-sealed to the target
	Problems   []Problem           `json:"problems"`    // objects not migrated and why
	Notes      []string            `json:"notes"`
	Verified   Verified            `json:"verified"`
	Elapsed    time.Duration       `json:"-"`
}

// Verified says how the new segments were checked.
type Verified struct {
	Entries int `json:"entries"` // opened and compared entry by entry
	Headers int `json:"headers"` // no identity opens them: bytes, header and stored SHA-256 only
}

// Problem is an object Run left as it is, and why.
type Problem struct {
	Key     string `json:"key"`
	Problem string `json:"problem"`
}
