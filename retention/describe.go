package retention

import (
	"fmt"
	"io"
	"time"
)

// Totals counts objects and their listed bytes.
type Totals struct {
	Objects int
	Bytes   int64
}

// Totals returns what the plan deletes, per kind and overall (key "").
func (p *PrunePlan) Totals() map[Kind]Totals {
	out := map[Kind]Totals{}
	add := func(k Kind, n int, bytes int64) {
		for _, k := range []Kind{k, ""} {
			t := out[k]
			t.Objects += n
			t.Bytes += bytes
			out[k] = t
		}
	}
	for _, ds := range [][]Deletion{p.Manifests, p.Chunks, p.Timelines, p.Markers} {
		for _, d := range ds {
			add(d.Kind, 1, d.Size)
		}
	}
	if n := p.Segments.Len(); n > 0 {
		add(KindSegment, n, p.Segments.Bytes())
	}
	return out
}

// Summary is one line: what the plan deletes.
func (p *PrunePlan) Summary() string {
	t := p.Totals()
	return fmt.Sprintf("delete %d object(s), %s: %d manifest(s), %d chunk(s), %d segment(s), %d timeline record(s), %d expired marker(s)",
		t[""].Objects, bytesText(t[""].Bytes), t[KindManifest].Objects, t[KindChunk].Objects, t[KindSegment].Objects,
		t[KindTimeline].Objects, t[KindMarker].Objects)
}

// Describe writes the plan for people: the policy, the retained targets,
// notes, every object it deletes with the reason, and totals.
func (p *PrunePlan) Describe(w io.Writer) {
	p.describe(w, true)
}

// DescribeSummary writes the plan without the per-object list.
func (p *PrunePlan) DescribeSummary(w io.Writer) {
	p.describe(w, false)
}

func (p *PrunePlan) describe(w io.Writer, objects bool) {
	fmt.Fprintf(w, "prune plan for %s at %s\n", p.Store, p.Now.UTC().Format(time.RFC3339))
	fmt.Fprintf(w, "policy: %s\n", p.Policy)
	switch {
	case p.Newest == 0:
		fmt.Fprintf(w, "no timeline: nothing is restorable from this store yet\n")
	case p.Latest == 0:
		fmt.Fprintf(w, "newest timeline %d: no entry stored yet\n", p.Newest)
	case p.WindowStart.IsZero():
		fmt.Fprintf(w, "newest timeline %d, latest entry %d; window: forever\n", p.Newest, p.Latest)
	default:
		fmt.Fprintf(w, "newest timeline %d, latest entry %d; window from %s\n", p.Newest, p.Latest, p.WindowStart.UTC().Format(time.RFC3339Nano))
	}
	fmt.Fprintf(w, "retained targets (%d):\n", len(p.Targets))
	for _, t := range p.Targets {
		fmt.Fprintf(w, "  %s\n", t)
	}
	if p.Hold != "" {
		fmt.Fprintf(w, "chunks held back: %d unreferenced chunk(s), %s, are kept: %s\n", p.HeldChunks, bytesText(p.HeldBytes), p.Hold)
	}
	for _, n := range p.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
	if objects {
		for d := range p.All() {
			fmt.Fprintf(w, "delete %-8s %s  (%s; %s)\n", d.Kind, d.Key, bytesText(d.Size), d.Reason)
		}
		if err := p.Segments.Err(); err != nil {
			fmt.Fprintf(w, "(the list stops here: %v)\n", err)
		}
	}
	t := p.Totals()
	fmt.Fprintf(w, "total: %s\n", p.Summary())
	for _, k := range []Kind{KindManifest, KindChunk, KindSegment, KindTimeline, KindMarker} {
		if t[k].Objects > 0 {
			fmt.Fprintf(w, "  %-8s %6d object(s) %s\n", k, t[k].Objects, bytesText(t[k].Bytes))
		}
	}
	fmt.Fprintf(w, "keep: %d manifest(s), %d chunk(s), %d segment(s), %d timeline record(s), %d restore point(s), %d in-progress marker(s)\n",
		p.Kept[KindManifest], p.Kept[KindChunk], p.Kept[KindSegment], p.Kept[KindTimeline], p.Kept[KindPoint], p.Kept[KindMarker])
}

func bytesText(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.2f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
