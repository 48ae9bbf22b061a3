package retention

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"iter"
	"slices"
	"strings"
	"time"

	"github.com/walship/walship/backends"
	"github.com/walship/walship/backends/multi"
	"github.com/walship/walship/segments"
	"github.com/walship/walship/snapshot"
)

// Policy says what prune keeps.
type Policy struct {
	// Snapshots keeps the newest N bases (by position: timeline, then
	// index) restorable; 0 keeps every base.
	Snapshots int
	// Window keeps every position of the newest timeline's history whose
	// entry time is within the last Window (and the latest) restorable;
	// 0 keeps every position of that history.
	Window time.Duration
}

func (p Policy) String() string {
	s, w := "all", "forever"
	if p.Snapshots > 0 {
		s = fmt.Sprint(p.Snapshots)
	}
	if p.Window > 0 {
		w = p.Window.String()
	}
	return fmt.Sprintf("keep the newest %s base snapshots, every point of the last %s", s, w)
}

// Kind is what sort of object a deletion removes.
type Kind string

// Kinds, in the order Execute deletes them.
const (
	KindManifest Kind = "manifest"
	KindChunk    Kind = "chunk"
	KindSegment  Kind = "segment"
	KindTimeline Kind = "timeline"
	KindMarker   Kind = "marker"
	// KindPoint is only counted in Kept: restore point records are never
	// deleted.
	KindPoint Kind = "point"
)

// Deletion is one object a plan deletes, and why.
type Deletion struct {
	Kind   Kind
	Key    string
	Size   int64
	Reason string
}

// Target is a retained restore target: every position From..To of
// Timeline's history stays restorable (From == To: one position).
type Target struct {
	Kind     string // "window", "base" or "point"
	Name     string // the base's key or the point's name
	Timeline uint32
	From, To uint64
	// Bases are the base snapshots (keys) a restore to From uses: the
	// newest at or before it on the history (several if they tie); empty
	// when From restores from the start of its run of the history.
	Bases     []string
	BaseIndex uint64
	// ReplayFrom is the first entry a restore to To may replay; 0 when
	// nothing is replayed (a base's own position).
	ReplayFrom uint64
	// Restorable is false for a target at no position of its history (lost
	// before shipping, or before the first shipped entry): nothing keeps it.
	Restorable bool
}

func (t Target) String() string {
	var s string
	switch t.Kind {
	case "window":
		s = fmt.Sprintf("window: entries %d..%d of timeline %d's history", t.From, t.To, t.Timeline)
	case "base":
		s = fmt.Sprintf("base %s: entry %d of timeline %d", t.Name, t.From, t.Timeline)
	case "point":
		s = fmt.Sprintf("pinned point %q: entry %d of timeline %d", t.Name, t.From, t.Timeline)
	}
	switch {
	case !t.Restorable:
		s += " (not restorable: the entry is on no stored run of the history)"
	case len(t.Bases) > 0 && t.ReplayFrom > 0:
		s += fmt.Sprintf(" (restores from base at %d: %s, replays from entry %d)", t.BaseIndex, strings.Join(t.Bases, ", "), t.ReplayFrom)
	case len(t.Bases) > 0:
		s += fmt.Sprintf(" (restores from base at %d: %s)", t.BaseIndex, strings.Join(t.Bases, ", "))
	default:
		s += fmt.Sprintf(" (no base at or before it: replays from entry %d)", t.ReplayFrom)
	}
	return s
}

// PrunePlan is what a prune of one store will delete, decided from one
// listing of the store and its records.
type PrunePlan struct {
	Store       string
	Policy      Policy
	Now         time.Time
	WindowStart time.Time // zero when Window is 0
	Newest      uint32    // newest timeline (0: the store has none)
	Latest      uint64    // latest entry of its history (0: none)
	Targets     []Target  // what stays restorable

	// Deletions, in the order Execute carries them out.
	Manifests []Deletion
	Chunks    []Deletion
	Segments  SegmentDeletions // the many: kept in a file past a few thousand
	Timelines []Deletion       // newest timeline first: no record ever names a missing parent
	Markers   []Deletion       // expired in-progress markers

	// HeldChunks unreferenced chunks (HeldBytes) are kept because a
	// snapshot upload may be under way (Hold says which markers).
	HeldChunks int
	HeldBytes  int64
	Hold       string

	// Kept counts the objects of each kind that stay.
	Kept  map[Kind]int
	Notes []string // what the user should know

	// What the listing showed, for Execute's re-checks.
	tlKeys    map[string]bool
	points    map[string]bool
	manifests map[string]bool
	markers   map[string]bool
	planned   time.Time // monotonic: when the plan was made
}

// All yields every deletion in Execute's order. The segments' records
// are read back as it goes: after a failed read it stops early, and
// Segments.Err says so.
func (p *PrunePlan) All() iter.Seq[Deletion] {
	return func(yield func(Deletion) bool) {
		for _, ds := range []iter.Seq[Deletion]{slices.Values(p.Manifests), slices.Values(p.Chunks), p.Segments.All(),
			slices.Values(p.Timelines), slices.Values(p.Markers)} {
			for d := range ds {
				if !yield(d) {
					return
				}
			}
		}
	}
}

// Count is the number of deletions.
func (p *PrunePlan) Count() int {
	return len(p.Manifests) + len(p.Chunks) + p.Segments.Len() + len(p.Timelines) + len(p.Markers)
}

// Release frees the file the plan keeps its segment deletions in, if
// any: the plan is not read again. A plan not released has its file
// closed when it is collected.
func (p *PrunePlan) Release() { p.Segments.release() }

// ErrPolicy: the policy is invalid.
var ErrPolicy = errors.New("invalid retention policy")

// planner accumulates what retained targets need.
type planner struct {
	st   backends.Store
	inv  *inventory
	plan *PrunePlan
	// bases retained, key -> why
	bases map[string]string
	// timeline records retained, id -> why
	records map[uint32]string
	// need[X] is the first entry of timeline X a retained target replays,
	// and why.
	need    map[uint32]uint64
	needWhy map[uint32]string
	// window start base index, for reasons
	windowBase string
}

// Plan decides what a prune of st deletes under p at now. It lists
// timelines/, snapshots/, chunks/, points/ and segments/ once each, each
// timeline's segments again up to where it is cut (segmentDeletions), and
// reads timeline records, snapshot manifests, restore points and
// in-progress markers: never a segment or chunk body. A record it cannot read is an
// error (ErrUnreadable), and so is a timeline history a retained target
// needs that cannot be followed (ErrBrokenHistory): prune never guesses.
//
// The retained targets are: every position of the newest timeline's
// history from the window start to the latest entry; each of the newest
// p.Snapshots bases (all when 0), at its own position; every pinned restore
// point. Each keeps: the newest base at or before it on its history (all
// of them for a range of positions), the timeline records of its history,
// and every segment from the first entry it replays on. Everything else is
// deleted; see the package doc for the exact rules.
func Plan(ctx context.Context, st backends.Store, p Policy, now time.Time) (*PrunePlan, error) {
	if p.Snapshots < 0 || p.Window < 0 {
		return nil, fmt.Errorf("%w: snapshots %d and window %v must not be negative", ErrPolicy, p.Snapshots, p.Window)
	}
	if n := len(multi.ReplicasOf(st)); n > 1 {
		return nil, fmt.Errorf("prune %s: a view of %d stores: prune each store on its own", st, n)
	}
	var ws int64
	if p.Window > 0 {
		ws = now.Add(-p.Window).UnixNano()
	}
	inv, err := loadInventory(ctx, st, ws)
	if err != nil {
		return nil, fmt.Errorf("prune %s: %w", st, err)
	}
	plan, err := makePlan(ctx, st, inv, p, now)
	if err != nil {
		return nil, fmt.Errorf("prune %s: %w", st, err)
	}
	plan.Store = st.String()
	return plan, nil
}

func makePlan(ctx context.Context, st backends.Store, inv *inventory, p Policy, now time.Time) (*PrunePlan, error) {
	plan := &PrunePlan{Policy: p, Now: now, Kept: map[Kind]int{}, planned: time.Now(),
		tlKeys: map[string]bool{}, points: map[string]bool{}, manifests: map[string]bool{}, markers: map[string]bool{}}
	for _, oi := range inv.tlKeys {
		plan.tlKeys[oi.Key] = true
	}
	for _, pt := range inv.points {
		plan.points[pt.Key] = true
	}
	for _, b := range inv.bases {
		plan.manifests[b.Key] = true
	}
	for _, m := range inv.markers {
		plan.markers[m.Key] = true
	}
	pl := &planner{st: st, inv: inv, plan: plan, bases: map[string]string{}, records: map[uint32]string{},
		need: map[uint32]uint64{}, needWhy: map[uint32]string{}}
	if inv.ignored.n > 0 {
		pl.note(fmt.Sprintf("%d object(s) under the walship prefixes are not walship keys (e.g. %q): never deleted; walship verify reports them", inv.ignored.n, inv.ignored.first))
	}

	// (a) the window on the newest timeline's history.
	for id := range inv.recs {
		plan.Newest = max(plan.Newest, id)
	}
	if plan.Newest != 0 {
		if err := pl.window(p, now); err != nil {
			return nil, err
		}
	} else {
		pl.note("the store holds no timeline record: no window to keep")
	}
	// (b) the newest bases.
	pl.baseTargets(p.Snapshots)
	// (c) pinned points.
	if err := pl.pointTargets(); err != nil {
		return nil, err
	}
	if err := pl.deletions(ctx); err != nil {
		return nil, err
	}
	return plan, nil
}

func (pl *planner) note(s string) {
	if !slices.Contains(pl.plan.Notes, s) {
		pl.plan.Notes = append(pl.plan.Notes, s)
	}
}

// window adds the window target: positions from the window start to the
// latest entry of the newest timeline's history.
func (pl *planner) window(p Policy, now time.Time) error {
	tl := pl.plan.Newest
	h, err := pl.inv.history(tl)
	if err != nil {
		return fmt.Errorf("the newest timeline's history: %w", err)
	}
	pl.keepRecords(h, fmt.Sprintf("on the newest timeline %d's history", tl))
	latest, ok := pl.latest(h)
	if !ok {
		pl.note(fmt.Sprintf("the newest timeline %d has no segments and shares no entry with a parent: no window to keep yet", tl))
		return nil
	}
	pl.plan.Latest = latest
	from := h.start()
	if p.Window > 0 {
		ws := now.Add(-p.Window)
		pl.plan.WindowStart = ws
		from = pl.windowStart(h, latest)
	}
	return pl.target(h, Target{Kind: "window", Timeline: tl, From: from, To: latest})
}

// latest is the newest entry of tl's history the store holds: the last
// entry of tl's segments, or the fork point when it has none yet.
func (pl *planner) latest(h *history) (uint64, bool) {
	if ss := pl.inv.segs[h.tl]; ss != nil && ss.n > 0 {
		return ss.last, true
	}
	rec := pl.inv.recs[h.tl]
	if rec.Parent != 0 && rec.ForkIndex > 0 {
		if _, ok := h.find(rec.ForkIndex); ok {
			return rec.ForkIndex, true
		}
	}
	return 0, false
}

// windowStart returns the earliest position a time in the window can
// restore to. Walking the history in index order, the first segment whose
// key says it holds an entry at or after ws may hold the first entry in the
// window; a time target before that entry resolves to the entry before it,
// so the window starts one position before the segment (the whole segment
// stays: it straddles the boundary). With no such segment every time in the
// window resolves to the latest entry. The segments/ listing found those
// segments (windowWatch) for h, the newest timeline's history.
func (pl *planner) windowStart(h *history, latest uint64) uint64 {
	w := pl.inv.window
	if w == nil || len(w.spans) != len(h.spans) {
		return h.start() // cannot happen (the same records make both); keep everything
	}
	for k, sp := range h.spans {
		if w.first[k] == 0 {
			continue
		}
		p := max(w.first[k], sp.from)
		if q, ok := h.prev(p); ok {
			return min(q, latest)
		}
		return min(p, latest)
	}
	return latest
}

// keepRecords retains the timeline records of a history.
func (pl *planner) keepRecords(h *history, why string) {
	for _, rec := range h.chain {
		if _, ok := pl.records[rec.ID]; !ok {
			pl.records[rec.ID] = why
		}
	}
}

// target records t and what it needs: the records of its history, the
// newest base at or before From and every base in (From, To], and every
// segment from the first entry a restore to any of its positions replays.
func (pl *planner) target(h *history, t Target) error {
	pl.keepRecords(h, "on the history of "+t.describeShort())
	onHist := h.bases(pl.inv.bases)
	// The newest base at or before From. A restore passes over a base
	// whose chunks are not all stored and takes the next older one, so
	// such a base is kept (it may be repaired) together with the older
	// ones down to a complete one.
	var b0 []baseInfo
	for limit := t.From; ; {
		b0 = newestAtOrBefore(onHist, limit)
		if len(b0) == 0 || slices.ContainsFunc(b0, func(b baseInfo) bool { return pl.complete(b) }) || b0[0].M.Index == 0 {
			break
		}
		for _, b := range b0 {
			pl.keepBase(b.Key, fmt.Sprintf("%s would restore from it, but it lacks chunks", t.describeShort()))
		}
		limit = b0[0].M.Index - 1
	}
	for _, b := range b0 {
		t.Bases = append(t.Bases, b.Key)
		t.BaseIndex = b.M.Index
		pl.keepBase(b.Key, fmt.Sprintf("%s restores from it", t.describeShort()))
	}
	for _, b := range onHist {
		if b.M.Index > t.From && b.M.Index <= t.To {
			pl.keepBase(b.Key, fmt.Sprintf("%s: entries from %d restore from it", t.describeShort(), b.M.Index))
		}
	}
	var replay uint64
	if len(b0) > 0 {
		replay = b0[0].M.Index + 1
		t.Restorable = true
	} else {
		replay, t.Restorable = h.runStart(t.From)
		if !t.Restorable {
			// Not restorable today: keep what restores the rest of the
			// range, if any of it is on the history.
			for _, sp := range h.spans {
				if sp.from > t.From && sp.from <= t.To {
					replay, t.Restorable = sp.from, true
					break
				}
			}
		}
	}
	if t.Restorable && replay <= t.To {
		t.ReplayFrom = replay
		why := fmt.Sprintf("%s replays from entry %d", t.describeShort(), replay)
		if len(b0) > 0 {
			why = fmt.Sprintf("%s restores from base %s at %d and replays from entry %d", t.describeShort(), b0[len(b0)-1].Key, b0[0].M.Index, replay)
		}
		for _, pc := range h.pieces(replay, t.To) {
			if cur, ok := pl.need[pc.tl]; !ok || pc.from < cur {
				pl.need[pc.tl] = pc.from
				pl.needWhy[pc.tl] = why
			}
		}
	}
	if t.Kind == "window" && len(b0) > 0 {
		pl.windowBase = fmt.Sprintf("the window's earliest target (entry %d) restores from the base at %d", t.From, b0[0].M.Index)
	}
	pl.plan.Targets = append(pl.plan.Targets, t)
	return nil
}

func (t Target) describeShort() string {
	switch t.Kind {
	case "window":
		return fmt.Sprintf("the window (entries %d..%d of timeline %d's history)", t.From, t.To, t.Timeline)
	case "base":
		return fmt.Sprintf("retained base at entry %d of timeline %d", t.From, t.Timeline)
	default:
		return fmt.Sprintf("pinned point %q (entry %d of timeline %d)", t.Name, t.From, t.Timeline)
	}
}

// complete reports whether every chunk base b names is stored.
func (pl *planner) complete(b baseInfo) bool {
	for _, d := range b.M.ChunkRefs() {
		if _, ok := pl.inv.chunks[segments.ChunkKey(d)]; !ok {
			return false
		}
	}
	return true
}

func (pl *planner) keepBase(key, why string) {
	if _, ok := pl.bases[key]; !ok {
		pl.bases[key] = why
	}
}

// baseTargets retains the newest n bases (all when n is 0), each as a
// target at its own position.
func (pl *planner) baseTargets(n int) {
	bs := slices.Clone(pl.inv.bases)
	slices.SortFunc(bs, func(a, b baseInfo) int { // newest first
		return cmp.Or(cmp.Compare(b.M.Timeline, a.M.Timeline), cmp.Compare(b.M.Index, a.M.Index),
			b.M.Time.Compare(a.M.Time), strings.Compare(b.Key, a.Key))
	})
	if n > 0 && len(bs) > n {
		bs = bs[:n]
	}
	for _, b := range bs {
		t := Target{Kind: "base", Name: b.Key, Timeline: b.M.Timeline, From: b.M.Index, To: b.M.Index}
		h, err := pl.inv.history(b.M.Timeline)
		if err != nil {
			pl.keepBase(b.Key, "one of the newest bases")
			pl.note(fmt.Sprintf("base %s is kept, but its timeline's history cannot be followed (%v): restoring from it may fail", b.Key, err))
			continue
		}
		pl.keepBase(b.Key, "one of the newest bases")
		pl.target(h, t)
	}
}

// pointTargets retains every pinned restore point.
func (pl *planner) pointTargets() error {
	for _, pt := range pl.inv.points {
		p := pt.P
		if !p.Pinned {
			continue
		}
		h, err := pl.inv.history(p.Timeline)
		if err != nil {
			return fmt.Errorf("pinned restore point %q (timeline %d, entry %d): %w; prune cannot tell what it needs, so it deletes nothing (unpin or delete the point, or let the store catch up)",
				p.Name, p.Timeline, p.Index, err)
		}
		t := Target{Kind: "point", Name: p.Name, Timeline: p.Timeline, From: p.Index, To: p.Index}
		if err := pl.target(h, t); err != nil {
			return err
		}
		if last := pl.plan.Targets[len(pl.plan.Targets)-1]; !last.Restorable {
			pl.note(fmt.Sprintf("pinned point %q: entry %d of timeline %d is on no stored run of its history (lost before shipping?): it cannot be restored, nothing is kept for it", p.Name, p.Index, p.Timeline))
		}
	}
	return nil
}

// deletions lists every object no retained target needs.
func (pl *planner) deletions(ctx context.Context) error {
	plan, inv := pl.plan, pl.inv
	// Manifests of unretained bases.
	deleted := map[string]bool{}
	for _, b := range inv.bases {
		if _, ok := pl.bases[b.Key]; ok {
			plan.Kept[KindManifest]++
			continue
		}
		deleted[b.Key] = true
		plan.Manifests = append(plan.Manifests, Deletion{Kind: KindManifest, Key: b.Key, Size: b.Size, Reason: pl.manifestReason(b)})
	}
	// Chunks no retained manifest refers to.
	kept := map[string]bool{}
	usedBy := map[string]string{} // chunk -> a deleted manifest that refers to it
	for _, b := range inv.bases {
		missing := 0
		// ChunkRefs: an encrypted manifest's clear chunk list, no key needed.
		for _, d := range b.M.ChunkRefs() {
			key := segments.ChunkKey(d)
			if deleted[b.Key] {
				if _, ok := usedBy[key]; !ok {
					usedBy[key] = b.Key
				}
				continue
			}
			if !kept[key] {
				kept[key] = true
				if _, ok := inv.chunks[key]; !ok {
					missing++
				}
			}
		}
		if missing > 0 {
			pl.note(fmt.Sprintf("base %s refers to %d chunk(s) the store does not hold: it cannot be restored (walship verify)", b.Key, missing))
		}
	}
	var chunks []Deletion
	for key, size := range inv.chunks {
		if kept[key] {
			plan.Kept[KindChunk]++
			continue
		}
		reason := "referenced by no manifest (left by an unfinished or failed snapshot upload)"
		if m, ok := usedBy[key]; ok {
			reason = "referenced only by deleted base(s), e.g. " + m
		}
		chunks = append(chunks, Deletion{Kind: KindChunk, Key: key, Size: size, Reason: reason})
	}
	slices.SortFunc(chunks, func(a, b Deletion) int { return strings.Compare(a.Key, b.Key) })
	var fresh []string
	for _, m := range inv.markers {
		if !m.fresh(plan.Now) {
			plan.Markers = append(plan.Markers, Deletion{Kind: KindMarker, Key: m.Key, Size: m.Size,
				Reason: fmt.Sprintf("in-progress marker of a snapshot upload started %s, more than %v ago: the upload ended without removing it",
					m.Started.UTC().Format(time.RFC3339), snapshot.InProgressTTL)})
			continue
		}
		plan.Kept[KindMarker]++
		if m.Err != nil {
			fresh = append(fresh, fmt.Sprintf("%s (unreadable: %v)", m.Key, m.Err))
		} else {
			fresh = append(fresh, fmt.Sprintf("%s (started %s)", m.Key, m.Started.UTC().Format(time.RFC3339)))
		}
	}
	if len(fresh) > 0 {
		plan.Hold = fmt.Sprintf("a snapshot upload may be under way (in-progress marker(s) younger than %v: %s): its chunks are stored before its manifest, so prune deletes no chunk now",
			snapshot.InProgressTTL, strings.Join(fresh, ", "))
		plan.HeldChunks = len(chunks)
		for _, c := range chunks {
			plan.HeldBytes += c.Size
		}
		plan.Kept[KindChunk] += len(chunks)
		chunks = nil
	}
	plan.Chunks = chunks

	// Segments.
	if err := pl.segmentDeletions(ctx); err != nil {
		return err
	}

	// Timeline records, newest first.
	ids := make([]uint32, 0, len(inv.tlKeys))
	for id := range inv.tlKeys {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	slices.Reverse(ids)
	for _, id := range ids {
		if _, ok := pl.records[id]; ok {
			plan.Kept[KindTimeline]++
			continue
		}
		rec := inv.recs[id]
		desc := fmt.Sprintf("timeline %d", id)
		if rec.Parent != 0 {
			desc += fmt.Sprintf(" (forked from %d at entry %d)", rec.Parent, rec.ForkIndex)
		}
		plan.Timelines = append(plan.Timelines, Deletion{Kind: KindTimeline, Key: inv.tlKeys[id].Key, Size: inv.tlKeys[id].Size,
			Reason: desc + " is on no retained target's history (not the newest timeline's, and no retained base or pinned point is on it)"})
	}
	plan.Kept[KindPoint] = len(inv.points)

	// Unpinned points that lose their promise.
	for _, pt := range inv.points {
		if pt.P.Pinned || pl.promised(pt.P.Timeline, pt.P.Index) {
			continue
		}
		pl.note(fmt.Sprintf("restore point %q (timeline %d, entry %d) is not pinned and outside the window: its record stays, but restoring it may fail once what it needs is pruned (pin it to keep it)",
			pt.P.Name, pt.P.Timeline, pt.P.Index))
	}
	return nil
}

// promised reports whether position (tl, index) is a retained target.
func (pl *planner) promised(tl uint32, index uint64) bool {
	for _, t := range pl.plan.Targets {
		if !t.Restorable || index < t.From || index > t.To {
			continue
		}
		h, err := pl.inv.history(t.Timeline)
		if err != nil {
			continue
		}
		if _, ok := h.find(index); ok && h.onHistory(tl, index) {
			return true
		}
	}
	return false
}

func (pl *planner) manifestReason(b baseInfo) string {
	n := pl.plan.Policy.Snapshots
	s := fmt.Sprintf("base at entry %d of timeline %d (taken %s): not among the newest %d bases, and no retained target restores from it",
		b.M.Index, b.M.Timeline, b.M.Time.UTC().Format(time.RFC3339), n)
	if pl.plan.Newest != 0 {
		if h, err := pl.inv.history(pl.plan.Newest); err == nil && h.onHistory(b.M.Timeline, b.M.Index) {
			if pl.windowBase != "" {
				return s + " (" + pl.windowBase + ")"
			}
			return s
		}
		return s + fmt.Sprintf(" (it is not on the newest timeline %d's history)", pl.plan.Newest)
	}
	return s
}
