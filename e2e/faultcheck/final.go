package faultcheck

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/walship/walship/backends/deadline"
)

// final heals, writes a last batch, runs the agent until every store
// shipped it (or a bound), stops it cleanly and judges every store.
func (r *run) final(ctx context.Context) error {
	p, res := r.p, r.res
	if err := r.heal(ctx); err != nil {
		return fmt.Errorf("final: heal: %w", err)
	}
	if err := r.src.Append(sizes(p.FinalSeed, p.FinalAppend, p.Stamped())); err != nil {
		return err
	}
	lin := r.src.Lineage()
	r.agent.reap()
	r.stale.agentStarted()
	if err := r.agent.Start(); err != nil {
		return err
	}
	// Drain: every store ships the last entry, or 40 s pass.
	deadline := time.Now().Add(40 * time.Second)
	var st agentStatus
	var stErr error
	for {
		st, stErr = r.agent.Status(ctx)
		if stErr == nil && drained(st, lin.Last) {
			break
		}
		if !r.agent.Running() {
			r.agent.reap()
			return fmt.Errorf("final: the agent exited while draining (see %s)", r.agent.Log)
		}
		if time.Now().After(deadline) {
			break
		}
		if err := sleepUntil(ctx, time.Now().Add(100*time.Millisecond)); err != nil {
			return err
		}
	}
	shipped := map[string]uint64{}
	gaps := map[string][]storeGap{}
	if stErr != nil {
		res.Failures = append(res.Failures, fmt.Sprintf("final: /status: %v", stErr))
	}
	for _, ss := range st.Stores {
		// A shipped index counts only on the agent's current timeline: a
		// status read before the fork check may name an old one.
		if ss.Timeline == st.Timeline {
			shipped[ss.Name] = min(ss.Shipped, lin.Last)
		}
		gaps[ss.Name] = ss.Gaps
		if ss.Shipped != lin.Last || ss.Timeline != st.Timeline {
			msg := fmt.Sprintf("store %s shipped %d (timeline %d; the agent's is %d) of %d within 40 s of the end of faults (degraded %v, gaps %v)",
				ss.Name, ss.Shipped, ss.Timeline, st.Timeline, lin.Last, ss.Degraded, ss.Gaps)
			if ss.Name == "file" {
				res.Failures = append(res.Failures, "healthy "+msg)
			} else {
				res.Notes = append(res.Notes, msg)
				res.Undrained = append(res.Undrained, ss.Name)
			}
		}
	}
	if err := r.agent.Stop(30 * time.Second); err != nil {
		res.Failures = append(res.Failures, fmt.Sprintf("final: agent stop: %v", err))
	}
	res.Exits = append(res.Exits, r.agent.Exits...)
	res.Starts = r.agent.Starts
	res.Written, res.Bytes, res.Last = r.src.Written, r.src.Bytes, lin.Last
	if err := r.src.Close(); err != nil {
		return err
	}
	r.src = nil

	// Every store alone.
	t0, t1 := int64(0), int64(0)
	for i := lin.Oldest(); i <= lin.Last && i > 0; i++ {
		if ns, ok := lin.Time(i); ok {
			if t0 == 0 {
				t0 = ns - int64(500*time.Millisecond)
			}
			t1 = ns + int64(500*time.Millisecond)
		}
	}
	// The strictest oracle: every version the source ever held counts as
	// seen, so a restore may never give an entry some later rewrite
	// replaced, even a rewrite no agent ran to see (walship must then claim
	// no entry it cannot compare). FAULTCHECK_LENIENT=1 restores the
	// weaker rule (versions whose rewrites no /status sample saw), to tell
	// the two apart when a run fails.
	if os.Getenv("FAULTCHECK_LENIENT") == "1" {
		r.tailMu.Lock()
		lin.Seen = r.seen(slices.Clone(r.tailed))
		r.tailMu.Unlock()
	}
	tgs := targets(p, lin, t0, t1)
	outs := make([][]restoreOutcome, len(r.stores))
	verify := make([]string, len(r.stores))
	encs := make([]encryptedOutcome, len(r.stores))
	var wg sync.WaitGroup
	for k, s := range r.stores {
		wg.Add(1)
		go func() {
			defer wg.Done()
			outs[k] = checkStore(ctx, r.c.bin, r.c.childEnv, filepath.Join(r.dir, "restore"), p, lin, storeExpect{Store: s, Shipped: shipped[s.Name], DataDir: r.dataDir}, tgs)
			if code, out := verifyStore(ctx, r.c.bin, r.c.childEnv, s); code != 0 && !(code == 3 && gapsRecorded(out, gaps[s.Name])) {
				verify[k] = fmt.Sprintf("exit %d: %s", code, damageLines(out))
			}
			if s.Key != nil {
				encs[k] = r.checkEncrypted(ctx, s)
			}
		}()
	}
	wg.Wait()
	// No output may hold a credential or an identity.
	logText, _ := os.ReadFile(r.agent.Log)
	res.Merges = strings.Count(string(logText), "compaction: merged segments")
	res.CompactDeletes = strings.Count(string(logText), "compaction: deleted segments")
	for _, s := range r.stores {
		res.DeadlineCuts[s.Name] = deadlineCuts(string(logText), s.Name)
		if s.Key != nil {
			res.EncryptedMerges += storeLines(string(logText), s.Name, "compaction: merged segments")
		}
	}
	texts := map[string]string{"agent log": string(logText)}
	for k := range outs {
		for _, o := range outs[k] {
			texts["restore "+o.Store+" "+o.Target.String()] = o.Output
		}
	}
	secrets := []string{r.c.env.MinioSecret, r.c.env.AzureKey}
	for _, s := range r.stores {
		if s.Key != nil {
			secrets = append(secrets, s.Key.secret)
		}
	}
	for what, text := range texts {
		for _, secret := range secrets {
			if len(secret) >= 6 && strings.Contains(text, secret) {
				res.Failures = append(res.Failures, what+" leaks a credential")
			}
		}
	}
	for k, s := range r.stores {
		res.Restores = append(res.Restores, outs[k]...)
		if verify[k] != "" {
			res.Verify[s.Name] = verify[k]
		}
		if s.Key != nil {
			res.addEncrypted(s, encs[k])
		}
	}
	return nil
}

// deadlineCuts counts the agent's log lines (slog text) that name store
// and a call its deadline decorator cut (deadline.ErrTimeout).
func deadlineCuts(log, store string) int {
	return storeLines(log, store, deadline.ErrTimeout.Error())
}

// storeLines counts the agent's log lines about store that hold text.
func storeLines(log, store, text string) int {
	n := 0
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, " store="+store+" ") && strings.Contains(l, text) {
			n++
		}
	}
	return n
}

// drained says the agent sealed the source's last entry and every store
// shipped it on the agent's current timeline.
func drained(st agentStatus, last uint64) bool {
	if len(st.Stores) == 0 || st.Sealed != last || st.Tailed != last {
		return false
	}
	for _, s := range st.Stores {
		if s.Shipped != last || s.Timeline != st.Timeline {
			return false
		}
	}
	return true
}

// damageLines is what verify found, without its header and summary lines.
func damageLines(out string) string {
	var keep []string
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if strings.HasPrefix(l, "store ") || strings.Contains(l, " objects, ") || len(keep) >= 4 {
			continue
		}
		keep = append(keep, strings.TrimSpace(l))
	}
	return strings.Join(keep, " | ")
}

// gapVerifyLine is how verify names a hole in a timeline's segments.
var gapVerifyLine = regexp.MustCompile(`^GAP timeline (\d+): no intact segment holds entries (\d+)\.\.(\d+)$`)

// gapsRecorded says whether verify's findings are only holes the agent
// recorded itself (segments the spool bound dropped for a degraded store,
// reported in /status): verify must name them, and nothing else.
func gapsRecorded(out string, recorded []storeGap) bool {
	found := 0
	for _, l := range strings.Split(out, "\n") {
		l = strings.TrimSpace(l)
		if strings.HasPrefix(l, "DAMAGED ") || strings.HasPrefix(l, "CONFLICT ") || strings.HasPrefix(l, "UNRESTORABLE POINT ") {
			return false
		}
		m := gapVerifyLine.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		found++
		tl, _ := strconv.ParseUint(m[1], 10, 32)
		from, _ := strconv.ParseUint(m[2], 10, 64)
		to, _ := strconv.ParseUint(m[3], 10, 64)
		if !coveredBy(uint32(tl), from, to, recorded) {
			return false
		}
	}
	return found > 0
}

// coveredBy says whether entries from..to of timeline tl lie in the union
// of the recorded gaps.
func coveredBy(tl uint32, from, to uint64, recorded []storeGap) bool {
	for i := from; i <= to; {
		next := i
		for _, g := range recorded {
			if g.Timeline == tl && g.From <= i && i <= g.To {
				next = g.To + 1
				break
			}
		}
		if next == i {
			return false
		}
		i = next
	}
	return true
}
