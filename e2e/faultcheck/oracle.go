package faultcheck

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	tidwal "github.com/tidwall/wal"
)

// Target is one restore the oracle asks for.
type Target struct {
	Kind  string // latest | index | time
	Index uint64
	Time  int64 // unix ns
}

func (t Target) args() []string {
	switch t.Kind {
	case "index":
		return []string{"--index", strconv.FormatUint(t.Index, 10)}
	case "time":
		return []string{"--time", time.Unix(0, t.Time).UTC().Format(time.RFC3339Nano)}
	}
	return []string{"--latest"}
}

func (t Target) String() string { return strings.Join(t.args(), " ") }

// Restored is a restored log read back: entries From..To.
type Restored struct {
	From, To uint64
	Entries  [][]byte
	Times    []int64 // Compare: when the version each entry matched was written
	Older    int     // Compare: entries that matched a version whose rewrite the agent never saw
}

// ReadRestored reads the tidwall/wal log in dir (written by restore, owned
// by the checker) with tidwall/wal itself.
func ReadRestored(dir, format string) (*Restored, error) {
	f := tidwal.Binary
	if format == "json" {
		f = tidwal.JSON
	}
	l, err := tidwal.Open(dir, &tidwal.Options{LogFormat: f, AllowEmpty: true, NoSync: true})
	if err != nil {
		return nil, fmt.Errorf("open restored log %s: %w", dir, err)
	}
	defer l.Close()
	first, err := l.FirstIndex()
	if err != nil {
		return nil, err
	}
	last, err := l.LastIndex()
	if err != nil {
		return nil, err
	}
	if last < first {
		last = first - 1 // an empty log after a base
	}
	r := &Restored{From: first, To: last}
	for i := first; i <= last && last > 0; i++ {
		d, err := l.Read(i)
		if err != nil {
			return nil, fmt.Errorf("read restored entry %d: %w", i, err)
		}
		r.Entries = append(r.Entries, d)
	}
	return r, nil
}

// Compare checks every restored entry against the lineage: byte for byte,
// contiguous, nothing the history does not hold. It returns how many
// entries it compared and every mismatch (capped).
func Compare(r *Restored, lin *Lineage) (n int, bad []string) {
	more := 0
	note := func(format string, a ...any) {
		if len(bad) < 3 {
			bad = append(bad, fmt.Sprintf(format, a...))
		} else {
			more++
		}
	}
	defer func() {
		if more > 0 {
			bad = append(bad, fmt.Sprintf("and %d more", more))
		}
	}()
	if r.To == 0 || len(r.Entries) == 0 {
		return 0, nil
	}
	if uint64(len(r.Entries)) != r.To-r.From+1 {
		note("restored log claims %d..%d but holds %d entries", r.From, r.To, len(r.Entries))
	}
	r.Times = make([]int64, len(r.Entries))
	for k, got := range r.Entries {
		i := r.From + uint64(k)
		want, ok := lin.Entry(i)
		n++
		acc, ns, older := lin.Accept(i, got)
		r.Times[k] = ns
		if acc {
			if older {
				r.Older++
			}
			continue
		}
		if !ok {
			note("entry %d: restored (%d bytes) but the source history holds no entry %d (history %d..%d)", i, len(got), i, lin.Oldest(), lin.Last)
			continue
		}
		at := 0
		for at < min(len(got), len(want)) && got[at] == want[at] {
			at++
		}
		what := "no version ever written there"
		if l := len(lin.vers[i]); l > 1 {
			what = fmt.Sprintf("not a version the agent could have kept (%d versions written there)", l)
		}
		note("entry %d: %d bytes, history has %d bytes; first difference at byte %d; %s", i, len(got), len(want), at, what)
	}
	return n, bad
}

// restoreOutcome is one restore of one store.
type restoreOutcome struct {
	Store    string
	Target   Target
	Code     int
	Output   string
	Restored *Restored
	Compared int
	Wrong    []string // mismatches and broken expectations: a wrong answer
	Refusal  string   // the normalised reason of a non-zero exit
	Problems []string // failures that are not wrong answers (unclear refusal, refusal where the store has the entries)
}

var (
	digits   = regexp.MustCompile(`[0-9]+`)
	storeRef = regexp.MustCompile(`from [a-z0-9]+://\S+:`)
)

// refusalReason is the first line of a refusal with numbers, keys and
// paths stripped, so refusals group by reason.
func refusalReason(out string) string {
	line := ""
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if strings.Contains(l, "walship:") || strings.Contains(strings.ToLower(l), "error") {
			line = l
			break
		}
	}
	if line == "" {
		ls := strings.Split(strings.TrimSpace(out), "\n")
		line = ls[len(ls)-1]
	}
	line = storeRef.ReplaceAllString(line, "from STORE:")
	line = digits.ReplaceAllString(line, "N")
	if len(line) > 160 {
		line = line[:160]
	}
	return line
}

// runCLI runs walship with args (at most timeout) and returns its exit
// code and combined output.
func runCLI(ctx context.Context, bin string, env []string, timeout time.Duration, args ...string) (int, string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = env
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if err == nil {
		return 0, out.String(), nil
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) && ee.Exited() {
		return ee.ExitCode(), out.String(), nil
	}
	return -1, out.String(), fmt.Errorf("walship %s: %w", strings.Join(args, " "), err)
}

// storeExpect is what the oracle knows of a store before restoring it.
type storeExpect struct {
	Store   StoreURL
	Shipped uint64 // shipped index in /status just before the final stop
	DataDir string // the source's data dir, which a restored base must equal
}

// checkStore restores store alone to every target (an encrypted store
// with its identity) and judges each answer.
func checkStore(ctx context.Context, bin string, env []string, dir string, p *Plan, lin *Lineage, se storeExpect, targets []Target) []restoreOutcome {
	var outs []restoreOutcome
	var latest *Restored
	for k, t := range targets {
		o := restoreOutcome{Store: se.Store.Name, Target: t}
		out := filepath.Join(dir, fmt.Sprintf("%s-%d", se.Store.Name, k))
		args := append(append([]string{"restore", se.Store.URL, out}, t.args()...), identityArgs(se.Store)...)
		code, output, err := runCLI(ctx, bin, env, 90*time.Second, args...)
		o.Code, o.Output = code, output
		if err != nil {
			o.Problems = append(o.Problems, err.Error())
			outs = append(outs, o)
			continue
		}
		if code != 0 {
			o.Refusal = refusalReason(output)
			if !digits.MatchString(output) {
				o.Problems = append(o.Problems, "refusal names no entry range: "+strings.TrimSpace(output))
			}
			if t.Kind == "latest" && se.Store.Healthy {
				o.Problems = append(o.Problems, "the healthy store refused --latest after a clean drain")
			}
			if t.Kind == "index" && latest != nil && t.Index >= latest.From && t.Index <= latest.To {
				o.Problems = append(o.Problems, fmt.Sprintf("refused --index %d although --latest restored %d..%d from this store", t.Index, latest.From, latest.To))
			}
			outs = append(outs, o)
			continue
		}
		r, err := ReadRestored(filepath.Join(out, "wal"), p.Format)
		if err != nil {
			o.Wrong = append(o.Wrong, "restore exited 0 but its log does not read back: "+err.Error())
			outs = append(outs, o)
			continue
		}
		o.Restored = r
		o.Compared, o.Wrong = Compare(r, lin)
		if _, err := os.Stat(filepath.Join(out, "data")); err == nil {
			o.Wrong = append(o.Wrong, compareDirs(filepath.Join(out, "data"), se.DataDir)...)
		}
		o.Wrong = append(o.Wrong, judgeEnd(t, r, lin, se, p)...)
		if t.Kind == "latest" {
			latest = r
		}
		os.RemoveAll(out)
		outs = append(outs, o)
	}
	return outs
}

// judgeEnd checks where a successful restore ended.
func judgeEnd(t Target, r *Restored, lin *Lineage, se storeExpect, p *Plan) []string {
	var bad []string
	switch t.Kind {
	case "latest":
		if r.To < se.Shipped {
			bad = append(bad, fmt.Sprintf("--latest ends at %d, before %d, which /status said was shipped before the final stop", r.To, se.Shipped))
		}
		if se.Store.Healthy && r.To != lin.Last {
			bad = append(bad, fmt.Sprintf("healthy store after a clean drain: --latest ends at %d, the source at %d", r.To, lin.Last))
		}
	case "index":
		if r.To != t.Index {
			bad = append(bad, fmt.Sprintf("--index %d restored %d..%d", t.Index, r.From, r.To))
		}
	case "time":
		if r.Times == nil {
			Compare(r, lin)
		}
		// Every entry restored was written at or before the time (stamped:
		// its time; observed: it was read after it was written).
		for k, ns := range r.Times {
			if ns > t.Time {
				bad = append(bad, fmt.Sprintf("--time %s restored entry %d, written %v after that time", t, r.From+uint64(k), time.Duration(ns-t.Time)))
				break
			}
		}
		// Stamped, nothing the agent saw up to the time is missing.
		if j, ok := lin.LastAtOrBefore(t.Time); ok && p.Stamped() && r.To < j {
			for i := max(r.To+1, r.From); i <= j; i++ {
				if !lin.SeenAt(i) {
					return bad // the history past To holds an entry the agent never saw
				}
			}
			bad = append(bad, fmt.Sprintf("--time %s restored up to %d; entries up to %d are stamped at or before it", t, r.To, j))
		}
	}
	return bad
}

// targets draws the restores of a run: latest, two indexes and (with
// times to relate) two times, from the plan's seed so a rerun asks the
// same where the history is the same.
func targets(p *Plan, lin *Lineage, t0, t1 int64) []Target {
	rng := rand.New(rand.NewPCG(uint64(p.Seed), uint64(p.Run)+0xfa17))
	ts := []Target{{Kind: "latest"}}
	lo := lin.Oldest()
	if lin.Last >= lo && lo > 0 {
		for range 2 {
			ts = append(ts, Target{Kind: "index", Index: lo + rng.Uint64N(lin.Last-lo+1)})
		}
	}
	if t1 > t0 {
		for range 2 {
			ts = append(ts, Target{Kind: "time", Time: t0 + rng.Int64N(t1-t0)})
		}
	}
	return ts
}

// verifyStore runs `walship verify URL` (with the identity of an
// encrypted store, so every segment is opened and checked entry by entry);
// anything but exit 0 is reported.
func verifyStore(ctx context.Context, bin string, env []string, s StoreURL) (int, string) {
	code, out, err := runCLI(ctx, bin, env, 90*time.Second, append([]string{"verify", s.URL}, identityArgs(s)...)...)
	if err != nil {
		return -1, err.Error()
	}
	return code, out
}

// compareDirs lists how the restored base dir got differs from want (the
// source's data dir, which never changes during a run).
func compareDirs(got, want string) []string {
	var bad []string
	files := map[string]bool{}
	for _, root := range []string{got, want} {
		filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
			if err == nil && d.Type().IsRegular() {
				rel, _ := filepath.Rel(root, p)
				files[rel] = true
			}
			return nil
		})
	}
	if want == "" {
		return []string{"a base was restored, but the source has no data dir"}
	}
	for rel := range files {
		g, err1 := os.ReadFile(filepath.Join(got, rel))
		w, err2 := os.ReadFile(filepath.Join(want, rel))
		switch {
		case err1 != nil:
			bad = append(bad, fmt.Sprintf("restored base lacks %s", rel))
		case err2 != nil:
			bad = append(bad, fmt.Sprintf("restored base has %s, which the data dir never had", rel))
		case !bytes.Equal(g, w):
			bad = append(bad, fmt.Sprintf("restored base file %s differs (%d bytes, source %d)", rel, len(g), len(w)))
		}
	}
	return bad
}
