package pitr

import (
	"errors"

	"github.com/walship/walship/segments"
)

// Sentinel errors. Errors returned by this package wrap one of them (or a
// store's backends sentinel) with the operation and the object, so callers
// classify with errors.Is and show the message as it is.
var (
	// ErrNoBackup: the store holds no timeline record.
	ErrNoBackup = errors.New("no walship backup found")
	// ErrNotRestorable: the target lies where the store has no entries
	// (before the first shipped entry, inside entries lost before
	// shipping, or before the first entry's time).
	ErrNotRestorable = errors.New("target not restorable")
	// ErrMissingSegments: no stored segment holds some entries the restore
	// needs, or a planned segment disappeared before it was fetched.
	ErrMissingSegments = errors.New("segments missing")
	// ErrBrokenHistory: a timeline names a parent the store has no
	// readable record of, or the requested timeline does not exist.
	ErrBrokenHistory = errors.New("timeline history broken")
	// ErrOutDirNotEmpty: the output directory holds files and Force was not
	// given.
	ErrOutDirNotEmpty = errors.New("output directory is not empty")
	// ErrBadTarget: the target asks for more than one of latest, index,
	// time and point, names an invalid point name, or a timeline that is not
	// its point's.
	ErrBadTarget = errors.New("invalid restore target")
	// ErrNoPoint: the store holds no restore point of the name asked for.
	ErrNoPoint = errors.New("restore point not found")
	// ErrPointExists: Mark found a restore point of that name already.
	ErrPointExists = errors.New("restore point exists")
	// ErrInvalidPointName: a restore point name breaks the naming rules
	// (segments.ValidPointName).
	ErrInvalidPointName = errors.New("invalid restore point name")
	// ErrCorrupt: a stored object fails its checks. It is the segments
	// package's sentinel, so both packages' errors match it.
	ErrCorrupt = segments.ErrCorrupt
)
