package pitr

import (
	"fmt"
	"io"
	"strings"
)

// Describe writes the plan for a person (walship restore --dry-run): the
// timeline history, the entry range and where it comes from, the segments
// and bytes to fetch, and the notes.
func (p *Plan) Describe(w io.Writer) {
	var b strings.Builder
	fmt.Fprintf(&b, "restore plan from %s\n", p.Store)
	fmt.Fprintf(&b, "  target:    %s\n", p.Target)
	fmt.Fprintf(&b, "  timeline:  %d\n", p.Timeline)
	b.WriteString("  history:\n")
	for _, t := range p.History {
		if t.Parent == 0 {
			fmt.Fprintf(&b, "    timeline %d: first shipped entry %d", t.ID, t.StartIndex)
		} else {
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
	fmt.Fprintf(&b, "  entries:   %d..%d (%s): %s\n", p.From, p.To, plural(p.Entries(), "entry", "entries"), describeSpans(p.Spans))
	fmt.Fprintf(&b, "  segments:  %d to fetch, %s\n", len(p.Segments), humanBytes(p.Bytes))
	fmt.Fprintf(&b, "  format:    tidwall/wal %s\n", p.Format)
	for _, n := range p.Notes {
		fmt.Fprintf(&b, "  note: %s\n", n)
	}
	io.WriteString(w, b.String())
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
