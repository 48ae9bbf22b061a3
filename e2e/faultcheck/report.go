package faultcheck

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"
)

// RunResult is what one run did and found.
type RunResult struct {
	Plan         *Plan
	Elapsed      time.Duration
	Written      int
	Bytes        int64
	Last         uint64
	Faults       map[string]int // by kind
	Trunc        map[string]int // front | back | back+rewrite
	Starts       int
	Kills        int
	Exits        []string // unplanned agent exits
	Restores     []restoreOutcome
	Verify       map[string]string  // store -> problem, only when verify was not clean
	Staleness    float64            // worst healthy-store lag while another store faulted, either measure
	StaleAt      string             // which measure, when
	StaleBy      map[string]float64 // status (/status lag_seconds) and listing (file store keys vs source)
	Samples      int
	Bound        float64
	Notes        []string // what the run could not do (e.g. a faulted store did not catch up)
	Failures     []string // every reason this run failed
	Wrong        int      // wrong answers among the restores
	LogDir       string
	TmpfsSkipped bool // mount failed outside CI: no ENOSPC faults
	// Merges and CompactDeletes count the agent's compaction log lines
	// (outputs stored, batches of contained segments deleted);
	// EncryptedMerges the outputs stored to encrypted stores (with
	// compaction.identity_file: Plan.CompactEncrypted).
	Merges, CompactDeletes, EncryptedMerges int
	// EncryptedStores, SealedObjects and NoIdentityRefused count the
	// encrypted stores checked, the objects of theirs found sealed (or
	// not) and their restores without an identity that were refused.
	EncryptedStores, SealedObjects, NoIdentityRefused int
	// Toxics counts the toxics put on each store's proxy, DeadlineCuts
	// the agent's log lines, by store, of calls its deadlines cut
	// (backends/deadline's ErrTimeout), and Undrained names the stores
	// that had not shipped the last entry 40 s after the faults ended.
	Toxics, DeadlineCuts map[string]int
	Undrained            []string
}

// Failed says whether the run found a problem.
func (r *RunResult) Failed() bool { return len(r.Failures) > 0 }

// judge turns the run's observations into failures.
func (r *RunResult) judge() {
	for _, o := range r.Restores {
		if len(o.Wrong) > 0 {
			r.Wrong++
			r.Failures = append(r.Failures, fmt.Sprintf("WRONG ANSWER: restore %s %s exited 0: %s", o.Store, o.Target, strings.Join(o.Wrong, "; ")))
		}
		for _, p := range o.Problems {
			r.Failures = append(r.Failures, fmt.Sprintf("restore %s %s: %s (exit %d: %s)", o.Store, o.Target, p, o.Code, firstLine(o.Output)))
		}
	}
	for _, s := range slices.Sorted(maps.Keys(r.Verify)) {
		r.Failures = append(r.Failures, fmt.Sprintf("verify %s: %s", s, r.Verify[s]))
	}
	if r.Staleness > r.Bound {
		r.Failures = append(r.Failures, fmt.Sprintf("healthy store stale: lag %.2f s (%s) while another store faulted (bound %.2f s = seal interval + 3 s; worst by /status lag_seconds %.2f s, by the file store's keys %.2f s)",
			r.Staleness, r.StaleAt, r.Bound, r.StaleBy["status"], r.StaleBy["listing"]))
	}
}

// Report prints a failed run: seed, reasons, the full step list and where
// the logs are.
func (r *RunResult) Report(w io.Writer) {
	fmt.Fprintf(w, "FAIL seed=%d run=%d (reproduce: faultcheck -seed %d -only %d)\n", r.Plan.Seed, r.Plan.Run, r.Plan.Seed, r.Plan.Run)
	for _, f := range r.Failures {
		fmt.Fprintf(w, "  - %s\n", f)
	}
	for _, n := range r.Notes {
		fmt.Fprintf(w, "  note: %s\n", n)
	}
	for _, e := range r.Exits {
		fmt.Fprintf(w, "  note: %s\n", e)
	}
	fmt.Fprint(w, r.Plan.String())
	if r.LogDir != "" {
		fmt.Fprintf(w, "  logs: %s\n", r.LogDir)
	}
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndex(s, "\n"); i >= 0 {
		s = s[i+1:] // the error is the last line
	}
	if len(s) > 300 {
		s = s[:300]
	}
	return s
}

// Summary adds up runs.
type Summary struct {
	Runs, FailedRuns   int
	Starts, Kills      int
	Exits              int
	Faults, Trunc      map[string]int
	Toxics             map[string]int // by store
	Undrained          map[string]int // by store: runs it had not caught up in
	DeadlineCuts       map[string]int // by store
	ComparedBy         map[string]int // by store: entries compared in its restores
	Written            int
	Bytes              int64
	Restores, Compared int
	Wrong              int
	Refusals           map[string]int
	VerifyProblems     int
	Worst              float64
	WorstAt            string
	WorstBy            map[string]float64
	Bound              float64
	StaleSamples       int
	TmpfsSkipped       int
	CompactionRuns     int
	Merges, CompactDel int
	EncryptedMerges    int // merged segments stored to encrypted stores
	EncryptedRuns      int
	EncryptedStores    int
	SealedObjects      int
	NoIdentityRefused  int
	ExitReasons        map[string]int
	Failed             []*RunResult
	Elapsed            time.Duration
}

// NewSummary is an empty summary.
func NewSummary() *Summary {
	return &Summary{Faults: map[string]int{}, Trunc: map[string]int{}, Toxics: map[string]int{}, Undrained: map[string]int{},
		DeadlineCuts: map[string]int{}, ComparedBy: map[string]int{}, Refusals: map[string]int{}, WorstBy: map[string]float64{}, ExitReasons: map[string]int{}}
}

// Add counts a run.
func (s *Summary) Add(r *RunResult) {
	s.Runs++
	if r.Plan != nil && r.Plan.Compaction {
		s.CompactionRuns++
	}
	s.Merges += r.Merges
	s.CompactDel += r.CompactDeletes
	s.EncryptedMerges += r.EncryptedMerges
	if r.Plan != nil && len(r.Plan.Encrypt) > 0 {
		s.EncryptedRuns++
	}
	s.EncryptedStores += r.EncryptedStores
	s.SealedObjects += r.SealedObjects
	s.NoIdentityRefused += r.NoIdentityRefused
	s.Starts += r.Starts
	s.Kills += r.Kills
	s.Exits += len(r.Exits)
	for _, e := range r.Exits {
		s.ExitReasons[digits.ReplaceAllString(e, "N")]++
	}
	for k, v := range r.Faults {
		s.Faults[k] += v
	}
	for k, v := range r.Trunc {
		s.Trunc[k] += v
	}
	for k, v := range r.Toxics {
		s.Toxics[k] += v
	}
	for k, v := range r.DeadlineCuts {
		s.DeadlineCuts[k] += v
	}
	for _, name := range r.Undrained {
		s.Undrained[name]++
	}
	s.Written += r.Written
	s.Bytes += r.Bytes
	for _, o := range r.Restores {
		s.Restores++
		s.Compared += o.Compared
		s.ComparedBy[o.Store] += o.Compared
		if o.Refusal != "" {
			s.Refusals[o.Store+": "+o.Refusal]++
		}
	}
	s.Wrong += r.Wrong
	s.VerifyProblems += len(r.Verify)
	s.StaleSamples += r.Samples
	if r.TmpfsSkipped {
		s.TmpfsSkipped++
	}
	s.Bound = r.Bound
	for k, v := range r.StaleBy {
		s.WorstBy[k] = max(s.WorstBy[k], v)
	}
	if r.Staleness > s.Worst {
		s.Worst = r.Staleness
		s.WorstAt = fmt.Sprintf("seed %d run %d %s", r.Plan.Seed, r.Plan.Run, r.StaleAt)
	}
	if r.Failed() {
		s.FailedRuns++
		s.Failed = append(s.Failed, r)
	}
}

// Missing lists the fault kinds no run injected.
func (s *Summary) Missing() []string {
	var out []string
	for _, k := range Kinds {
		if s.Faults[k] == 0 {
			out = append(out, k)
		}
	}
	return out
}

// Print writes the summary.
func (s *Summary) Print(w io.Writer) {
	fmt.Fprintf(w, "faultcheck summary: %d runs (%d failed) in %v\n", s.Runs, s.FailedRuns, s.Elapsed.Round(time.Second))
	fmt.Fprintf(w, "  agent: %d starts, %d SIGKILLs, %d exits on its own\n", s.Starts, s.Kills, s.Exits)
	for _, k := range slices.Sorted(maps.Keys(s.ExitReasons)) {
		fmt.Fprintf(w, "    %4d  %s\n", s.ExitReasons[k], k)
	}
	fmt.Fprintf(w, "  faults by kind:")
	for _, k := range Kinds {
		fmt.Fprintf(w, " %s=%d", k, s.Faults[k])
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "  by store:")
	for _, name := range storeNames {
		fmt.Fprintf(w, " %s: %d toxics, %d deadline cuts, %d runs not caught up, %d entries compared;", name, s.Toxics[name], s.DeadlineCuts[name], s.Undrained[name], s.ComparedBy[name])
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "  truncations: front=%d back=%d back+rewrite=%d\n", s.Trunc["front"], s.Trunc["back"], s.Trunc["back+rewrite"])
	fmt.Fprintf(w, "  source: %d entries written (%d bytes)\n", s.Written, s.Bytes)
	fmt.Fprintf(w, "  compaction: on in %d runs, %d merged segments stored (%d to encrypted stores), %d batches of merged segments deleted\n", s.CompactionRuns, s.Merges, s.EncryptedMerges, s.CompactDel)
	fmt.Fprintf(w, "  encryption: on in %d runs, %d encrypted stores restored with their identity, %d of their objects checked sealed, %d restores without an identity refused\n",
		s.EncryptedRuns, s.EncryptedStores, s.SealedObjects, s.NoIdentityRefused)
	fmt.Fprintf(w, "  restores: %d, entries compared: %d, WRONG ANSWERS: %d, verify problems: %d\n", s.Restores, s.Compared, s.Wrong, s.VerifyProblems)
	n := 0
	for _, v := range s.Refusals {
		n += v
	}
	fmt.Fprintf(w, "  refusals: %d\n", n)
	for _, k := range slices.Sorted(maps.Keys(s.Refusals)) {
		fmt.Fprintf(w, "    %4d  %s\n", s.Refusals[k], k)
	}
	fmt.Fprintf(w, "  worst healthy-store staleness: %.2f s (%s; bound %.2f s; /status lag_seconds %.2f s, file store listing %.2f s; %d samples under faults)\n",
		s.Worst, s.WorstAt, s.Bound, s.WorstBy["status"], s.WorstBy["listing"], s.StaleSamples)
	if m := s.Missing(); len(m) > 0 {
		fmt.Fprintf(w, "  fault kinds never injected: %s\n", strings.Join(m, ", "))
	}
	if s.TmpfsSkipped > 0 {
		fmt.Fprintf(w, "  tmpfs could not be mounted in %d runs: their ENOSPC faults were skipped\n", s.TmpfsSkipped)
	}
	for _, r := range s.Failed {
		fmt.Fprintf(w, "  failed: seed %d run %d: %d problem(s), first: %s\n", r.Plan.Seed, r.Plan.Run, len(r.Failures), r.Failures[0])
	}
}
