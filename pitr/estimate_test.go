package pitr

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/walship/walship/backends"
	"github.com/walship/walship/segments"
)

// TestMeasure: a plan's measured estimate samples its first segments,
// reads only (the store's keys are unchanged; GETs only), writes its
// sample in MeasureOptions.Dir (the system's temporary directory does not
// exist here) and leaves no temporary file there, and Describe says it
// was measured.
func TestMeasure(t *testing.T) {
	for sname, mk := range stores(t) {
		for _, format := range formats {
			t.Run(fmt.Sprintf("%s/%s", sname, format), func(t *testing.T) {
				f := newFixture(t, mk(t), format, 7)
				f.timeline(t, segments.Timeline{ID: 1, StartIndex: 1}, 300)
				before := keys(t, f.st)
				var gets []string
				h := &hookStore{Store: f.st, onGet: func(key string) error { gets = append(gets, key); return nil }}
				p, err := MakePlan(context.Background(), h, Target{})
				if err != nil {
					t.Fatal(err)
				}
				guess := p.Estimate
				gets = nil
				tmp := t.TempDir()
				t.Setenv("TMPDIR", filepath.Join(tmp, "missing"))
				if err := p.Measure(context.Background(), h, MeasureOptions{Parallel: 4, Dir: tmp}); err != nil {
					t.Fatal(err)
				}
				t.Setenv("TMPDIR", tmp) // the restore below keeps its plan's segments there
				r := p.Rates
				if r == nil || r.Objects == 0 || r.Objects > sampleObjects || r.Bytes <= 0 || r.Request <= 0 || r.Parallel != 4 ||
					r.Sync <= 0 || r.SyncPerByte < 0 {
					t.Fatalf("rates %+v", r)
				}
				want := p.sample()
				if r.Objects != len(want) || len(gets) != requestSamples+len(want) || r.RequestCPU < 0 || r.RequestCPU > r.Request {
					t.Fatalf("sampled %d objects with GETs %v (request %v, CPU %v), want %d header reads and %d segments", r.Objects, gets, r.Request, r.RequestCPU, requestSamples, len(want))
				}
				for i := range requestSamples {
					if gets[i] != want[0].Key() {
						t.Fatalf("GET %d is %s, want a header read of %s", i, gets[i], want[0].Key())
					}
				}
				for i, ps := range want {
					if gets[requestSamples+i] != ps.Key() || ps != p.Segments.At(i) {
						t.Fatalf("GET %d is %s, want the plan's segment %d %s", requestSamples+i, gets[requestSamples+i], i, p.Segments.At(i).Key())
					}
				}
				if p.Estimate <= 0 || p.Estimate == guess {
					t.Fatalf("estimate %v, the guess was %v", p.Estimate, guess)
				}
				if after := keys(t, f.st); !slices.Equal(before, after) {
					t.Fatalf("store changed: %v -> %v", before, after)
				}
				if left, _ := filepath.Glob(filepath.Join(tmp, "*")); len(left) > 0 {
					t.Fatalf("left behind: %v", left)
				}
				var b strings.Builder
				p.Describe(&b)
				if !strings.Contains(b.String(), "measured on a sample of") {
					t.Fatalf("describe does not say the estimate was measured:\n%s", b.String())
				}
				// The plan still restores exactly after Measure.
				_, res, got, err := restoreAndRead(t, f.st, Target{}, format, Options{})
				if err != nil {
					t.Fatal(err)
				}
				exp, _ := f.expect(1, f.latest(1))
				sameEntries(t, got, exp)
				if res.Entries != 300 {
					t.Fatalf("restored %d entries", res.Entries)
				}
			})
		}
	}
}

// TestMeasureDirFallback: a MeasureOptions.Dir where no directory can be
// made (it does not exist, or is not writable) leaves the sample to the
// system's temporary directory, which it leaves empty.
func TestMeasureDirFallback(t *testing.T) {
	f := newFixture(t, newMem(), formats[0], 11)
	f.timeline(t, segments.Timeline{ID: 1, StartIndex: 1}, 100)
	p, err := MakePlan(context.Background(), f.st, Target{})
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	if err := p.Measure(context.Background(), f.st, MeasureOptions{Dir: filepath.Join(tmp, "missing")}); err != nil || p.Rates == nil {
		t.Fatalf("measure: %v, rates %+v", err, p.Rates)
	}
	if left, _ := filepath.Glob(filepath.Join(tmp, "*")); len(left) > 0 {
		t.Fatalf("left behind: %v", left)
	}
}

// TestMeasureCorruptSample: a damaged segment in the sample fails Measure
// with the segment's key, as the restore would.
func TestMeasureCorruptSample(t *testing.T) {
	f := newFixture(t, newMem(), formats[0], 9)
	f.timeline(t, segments.Timeline{ID: 1, StartIndex: 1}, 100)
	p, err := MakePlan(context.Background(), f.st, Target{})
	if err != nil {
		t.Fatal(err)
	}
	k := p.Segments.At(0).Key()
	rc, err := f.st.Get(context.Background(), k, 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, p.Segments.At(0).Size)
	if _, err := rc.Read(b); err != nil {
		t.Fatal(err)
	}
	rc.Close()
	b[len(b)-1] ^= 1
	if err := f.st.Delete(context.Background(), k); err != nil {
		t.Fatal(err)
	}
	put(t, f.st, k, b)
	err = p.Measure(context.Background(), f.st, MeasureOptions{Parallel: 4})
	if err == nil || !strings.Contains(err.Error(), k) {
		t.Fatalf("Measure over a damaged segment: %v", err)
	}
	if p.Rates != nil {
		t.Fatalf("rates set after a failed measure")
	}
}

// TestSample: the first segments up to the byte and object bounds,
// skipping oversized ones; the smallest when every one is oversized.
func TestSample(t *testing.T) {
	seg := func(i int, size int64) PlannedSegment {
		return PlannedSegment{Name: segments.SegmentName{Timeline: 1, First: uint64(i) + 1, Last: uint64(i) + 1}, Size: size}
	}
	cases := []struct {
		sizes []int64
		want  []string
	}{
		{[]int64{1, 2, 3}, []string{"0", "1", "2"}},
		{[]int64{1, 1, 1, 1, 1, 1, 1, 1, 1, 1}, []string{"0", "1", "2", "3", "4", "5", "6", "7"}},
		{[]int64{6 << 20, 3 << 20, 1}, []string{"0", "1"}},
		{[]int64{64 << 20, 1 << 20}, []string{"1"}},
		{[]int64{64 << 20, 40 << 20, 50 << 20}, []string{"1"}},
		{nil, nil},
	}
	for _, c := range cases {
		p := &Plan{}
		for i, s := range c.sizes {
			p.Segments.add(seg(i, s))
		}
		var got []string
		for _, ps := range p.sample() {
			got = append(got, fmt.Sprint(ps.Name.First-1))
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("sizes %v: sampled %v, want %v", c.sizes, got, c.want)
		}
	}
}

// TestRatesEstimate: the model's arithmetic. Latency overlaps Parallel
// downloads, local work per object spreads over the cores, waiting per byte overlaps
// Parallel downloads, CPU per byte spreads over the cores, the writer runs
// beside them; the log's fsyncs and the install's syncs come after.
func TestRatesEstimate(t *testing.T) {
	r := Rates{Request: 40 * time.Millisecond, PerObject: time.Millisecond, PerByte: 1e-8, WaitShare: 0.5,
		Write: 1e-9, Sync: 10 * time.Millisecond, SyncPerByte: 2e-9, Parallel: 4, CPUs: 2}
	// The log's fsyncs, 2 s for 1 GB, come on top of the pipeline.
	if got, want := r.Estimate(1000, 1e9), 16250*time.Millisecond+30*time.Millisecond; got != want {
		t.Fatalf("estimate %v, want %v", got, want)
	}
	r.SyncPerByte = 0
	// 1000 objects: 10 s of latency over 4, 1 s of local work over 2; 1 GB
	// at 1e-8 s/B, half waiting over 4 (1.25 s), half CPU over 2 (2.5 s).
	if got, want := r.Estimate(1000, 1e9), 14250*time.Millisecond+30*time.Millisecond; got != want {
		t.Fatalf("estimate %v, want %v", got, want)
	}
	r.Write = 1e-7 // 100 s of writing: the writer sets the pace
	if got, want := r.Estimate(1000, 1e9), 100*time.Second+30*time.Millisecond; got != want {
		t.Fatalf("estimate %v, want %v", got, want)
	}
	r.Write, r.Parallel = 0, 1 // one at a time: 40 s of latency, 1 s of local work, 10 s of bytes
	if got, want := r.Estimate(1000, 1e9), 51*time.Second+30*time.Millisecond; got != want {
		t.Fatalf("estimate %v, want %v", got, want)
	}
	if got := r.Estimate(0, 0); got != 30*time.Millisecond {
		t.Fatalf("nothing to restore takes %v", got)
	}
	// A request that is this process's CPU (a file store's open and read)
	// spreads over the cores, not the downloads: 40 s over 2 and 1 s over 2.
	r.RequestCPU, r.Parallel = r.Request, 4
	if got, want := r.Estimate(1000, 0), 20500*time.Millisecond+30*time.Millisecond; got != want {
		t.Fatalf("estimate with CPU-bound requests %v, want %v", got, want)
	}
}

// TestFitCosts: sizes that differ give the line through them; one small
// size is all per object, one large size all per byte, each the median
// of the sample; never negative.
func TestFitCosts(t *testing.T) {
	ms := time.Millisecond
	line := []sampleCost{{1 << 20, 2 * ms}, {3 << 20, 4 * ms}, {5 << 20, 6 * ms}} // 1 ms + 1 ms per MiB
	if o, b := fitCosts(line); o < 999*time.Microsecond || o > 1001*time.Microsecond || b < 0.999e-3/(1<<20) || b > 1.001e-3/(1<<20) {
		t.Errorf("line: %v per object, %g s/B", o, b)
	}
	if o, b := fitCosts([]sampleCost{{500, 200 * time.Microsecond}, {520, 300 * time.Microsecond}}); o != 250*time.Microsecond || b != 0 {
		t.Errorf("small: %v per object, %g s/B", o, b)
	}
	if o, b := fitCosts([]sampleCost{{4 << 20, 40 * ms}, {4 << 20, 60 * ms}}); o != 0 || b != 0.1/float64(8<<20) {
		t.Errorf("large: %v per object, %g s/B", o, b)
	}
	if o, b := fitCosts([]sampleCost{{1 << 20, 9 * ms}, {4 << 20, 3 * ms}}); o < 0 || b < 0 {
		t.Errorf("falling line: %v per object, %g s/B", o, b)
	}
	// One pause in eight small samples (a GC, a wait for a core) must not
	// set the per-object cost: the mean here is 297.5 µs, the median 50.
	paused := []sampleCost{{385, 2 * ms}}
	for range 7 {
		paused = append(paused, sampleCost{385, 50 * time.Microsecond})
	}
	if o, b := fitCosts(paused); o != 50*time.Microsecond || b != 0 {
		t.Errorf("small with a pause: %v per object, %g s/B", o, b)
	}
	if o, b := fitCosts([]sampleCost{{4 << 20, 40 * ms}, {4 << 20, 400 * ms}, {4 << 20, 40 * ms}}); o != 0 || b != 0.04/float64(4<<20) {
		t.Errorf("large with a pause: %v per object, %g s/B", o, b)
	}
	if o, b := fitCosts(nil); o != 0 || b != 0 {
		t.Errorf("empty: %v, %g", o, b)
	}
}

func keys(t *testing.T, st backends.Store) []string {
	t.Helper()
	var out []string
	if err := st.List(context.Background(), "", "", func(oi backends.ObjectInfo) error {
		out = append(out, oi.Key)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}
