package pitr

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/walship/walship/wal"
)

// Describe writes the plan for a person (walship restore --dry-run): the
// timeline history, the base snapshot, the entry range and where it comes
// from, the segments and bytes to fetch, an estimate of the time, and the
// notes.
func (p *Plan) Describe(w io.Writer) {
	var b strings.Builder
	fmt.Fprintf(&b, "restore plan from %s\n", p.Store)
	fmt.Fprintf(&b, "  target:    %s\n", p.Target)
	if p.Point != nil {
		pin := ""
		if p.Point.Pinned {
			pin = ", pinned"
		}
		fmt.Fprintf(&b, "  point:     %s: timeline %d, index %d, entry time %s (marked %s%s)\n", p.Point.Name, p.Point.Timeline, p.Point.Index,
			p.Point.Time.UTC().Format(time.RFC3339Nano), p.Point.Created.UTC().Format(time.RFC3339), pin)
	}
	fmt.Fprintf(&b, "  timeline:  %d\n", p.Timeline)
	b.WriteString("  history:\n")
	for _, t := range p.History {
		switch {
		case t.Parent == 0:
			fmt.Fprintf(&b, "    timeline %d: first shipped entry %d", t.ID, t.StartIndex)
		case t.ForkIndex == 0:
			fmt.Fprintf(&b, "    timeline %d: after timeline %d, sharing none of its entries, own entries from %d", t.ID, t.Parent, t.StartIndex)
		default:
			fmt.Fprintf(&b, "    timeline %d: forked from timeline %d after entry %d, own entries from %d", t.ID, t.Parent, t.ForkIndex, t.StartIndex)
			if t.HasGap() {
				fmt.Fprintf(&b, " (entries %d..%d lost before shipping)", t.ForkIndex+1, t.StartIndex-1)
			}
		}
		if t.Reason != "" {
			fmt.Fprintf(&b, " [%s]", t.Reason)
		}
		b.WriteString("\n")
	}
	if bs := p.Base; bs != nil {
		fmt.Fprintf(&b, "  base:      %s\n", bs.Key)
		fmt.Fprintf(&b, "             timeline %d, index %d (holds every entry up to it), taken %s\n", bs.Timeline, bs.Index, bs.Time.UTC().Format(time.RFC3339))
		files := plural(uint64(bs.Files), "file", "files")
		if !bs.Manifest.Opened() {
			files = "encrypted (its files are listed in the sealed manifest: an identity opens it)"
		}
		fmt.Fprintf(&b, "             %s, %s; %s to fetch in %s\n", files, humanBytes(bs.Bytes), humanBytes(bs.FetchBytes), plural(uint64(bs.Chunks), "chunk", "chunks"))
	} else {
		b.WriteString("  base:      none: the log is replayed from the history's start, no data directory is written\n")
	}
	if p.Entries() == 0 {
		fmt.Fprintf(&b, "  entries:   none after the base: the restored log is empty and starts at %d\n", p.From)
	} else {
		fmt.Fprintf(&b, "  entries:   %d..%d (%s): %s\n", p.From, p.To, plural(p.Entries(), "entry", "entries"), describeSpans(p.Spans))
	}
	fmt.Fprintf(&b, "  segments:  %d to fetch, %s\n", p.Segments.Len(), humanBytes(p.Bytes))
	fmt.Fprintf(&b, "  total:     %s to fetch\n", humanBytes(p.TotalBytes()))
	if r := p.Rates; r != nil {
		fmt.Fprintf(&b, "  estimate:  about %s, measured on a sample of %s (%s) fetched, decoded and written here: %v per request, %v per object, %.0f MiB/s, %d downloads at a time\n",
			roundEstimate(p.Estimate), plural(uint64(r.Objects), "segment", "segments"), humanBytes(r.Bytes),
			r.Request.Round(10*time.Microsecond), r.PerObject.Round(10*time.Microsecond), 1/max(r.PerByte, 1e-12)/(1<<20), r.Parallel)
	} else {
		fmt.Fprintf(&b, "  estimate:  about %s (a guess, assuming %d MiB/s and %v per object, 4 at a time; not measured)\n",
			roundEstimate(p.Estimate), EstimateBytesPerSec>>20, estimateRequestCost)
	}
	if p.Format == wal.FormatBinary || p.Format == wal.FormatJSON {
		fmt.Fprintf(&b, "  format:    tidwall/wal %s\n", p.Format)
	} else {
		b.WriteString("  format:    unknown (no segment read; an empty log is the same in both formats)\n")
	}
	for _, n := range p.Notes {
		fmt.Fprintf(&b, "  note: %s\n", n)
	}
	io.WriteString(w, b.String())
}

// roundEstimate keeps an estimate from looking precise.
func roundEstimate(d time.Duration) time.Duration {
	switch {
	case d < time.Second:
		return d.Round(10 * time.Millisecond)
	case d < time.Minute:
		return d.Round(time.Second)
	}
	return d.Round(time.Minute)
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB (%d bytes)", float64(n)/float64(div), "KMGTPE"[exp], n)
}

func plural(n uint64, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}
