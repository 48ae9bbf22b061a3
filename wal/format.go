package wal

import (
	"fmt"
	"sync/atomic"
)

// jsonPrefix starts every line of a tidwall/wal JSON log; a binary log
// starts with a uvarint length instead.
const jsonPrefix = `{"index":"`

// sniff tells the format from the first bytes of a segment file, or
// FormatAuto when there are too few bytes to tell yet.
func sniff(b []byte) Format {
	n := min(len(b), len(jsonPrefix))
	switch {
	case n == 0:
		return FormatAuto
	case string(b[:n]) != jsonPrefix[:n]:
		return FormatBinary
	case n < len(jsonPrefix):
		return FormatAuto
	}
	return FormatJSON
}

// formatBox holds the log's format: given in Options, or detected once from
// the first bytes read. Safe for concurrent use.
type formatBox struct {
	explicit Format
	v        atomic.Uint32
}

func newFormatBox(f Format) *formatBox {
	b := &formatBox{explicit: f}
	b.v.Store(uint32(f))
	return b
}

func (b *formatBox) get() Format { return Format(b.v.Load()) }

// check looks at the first bytes of the segment r reads (before anything is
// consumed) and returns the format to decode it with, or FormatAuto when the
// file does not hold enough bytes yet.
func (b *formatBox) check(r *segReader) (Format, error) {
	if r.sniffd {
		return b.get(), nil
	}
	if r.off != 0 { // reopened mid-file: its start was checked before
		r.sniffd = true
		return b.get(), nil
	}
	if _, err := r.fill(len(jsonPrefix)); err != nil {
		return FormatAuto, err
	}
	f := sniff(r.buf[r.r:r.w])
	if f == FormatAuto {
		return FormatAuto, nil
	}
	if b.explicit != FormatAuto && f != b.explicit {
		return FormatAuto, fmt.Errorf("segment %s starts like a %s tidwall/wal log, but format %s was configured; set the source format to %s or auto",
			r.path(), f, b.explicit, f)
	}
	if b.explicit == FormatAuto {
		b.v.CompareAndSwap(uint32(FormatAuto), uint32(f))
		if got := b.get(); got != f {
			return FormatAuto, corruptErr(r, "the segment starts like a %s log, but earlier segments are %s", f, got)
		}
	}
	r.sniffd = true
	return f, nil
}
