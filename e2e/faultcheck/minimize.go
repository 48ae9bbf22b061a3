package faultcheck

import (
	"context"
	"fmt"
	"strings"
)

// Minimize cuts steps from a failing plan while the run still fails the
// way keep says (ddmin over the step list: drop halves, then quarters, ...
// down to single steps). Each try is a full run; timing-dependent failures
// may need several tries, so keep should look at the kind of failure, not
// its numbers. It returns the smallest failing plan found.
func (c *Checker) Minimize(ctx context.Context, p *Plan, keep func(*RunResult) bool) *Plan {
	best := *p
	steps := best.Steps
	n := 2
	tries := 0
	for len(steps) > 0 && ctx.Err() == nil {
		chunk := (len(steps) + n - 1) / n
		cut := false
		for i := 0; i < len(steps) && ctx.Err() == nil; i += chunk {
			cand := append(append([]Step(nil), steps[:i]...), steps[min(i+chunk, len(steps)):]...)
			q := best
			q.Steps = cand
			tries++
			res := c.Run(ctx, &q)
			c.logf("minimize try %d: %d of %d steps: failed=%v", tries, len(cand), len(steps), keep(res))
			if keep(res) {
				steps, cut = cand, true
				best.Steps = cand
				n = max(n-1, 2)
				break
			}
		}
		if !cut {
			if chunk == 1 {
				break
			}
			n = min(2*n, len(steps))
		}
	}
	best.Steps = steps
	if res := c.Run(ctx, &best); keep(res) {
		res.Report(c.opt.Out)
	} else {
		c.logf("minimize: the smallest plan passed this time (a timing-dependent failure)")
	}
	return &best
}

// WrongAnswer says whether a run gave a wrong answer (the failure class
// Minimize keeps by default).
func WrongAnswer(r *RunResult) bool { return r.Wrong > 0 }

// VerifyDamage says whether `walship verify` found damage in a run.
func VerifyDamage(r *RunResult) bool { return len(r.Verify) > 0 }

// Stale says whether the healthy store went stale in a run.
func Stale(r *RunResult) bool { return r.Staleness > r.Bound }

// GoLiteral is p as a Go composite literal, to paste into minimal_test.go.
func (p *Plan) GoLiteral() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Plan{Seed: %d, Run: %d, Format: %q, Timestamp: %q, SegmentSize: %d, SealInterval: %d, SealSize: %d, SpoolMax: %d, Tmpfs: %v, Snapshots: %v, Compaction: %v,\n",
		p.Seed, p.Run, p.Format, p.Timestamp, p.SegmentSize, p.SealInterval, p.SealSize, p.SpoolMax, p.Tmpfs, p.Snapshots, p.Compaction)
	if p.CallTimeout > 0 {
		fmt.Fprintf(&b, "\tCallTimeout: %d,\n", p.CallTimeout)
	}
	if len(p.Encrypt) > 0 {
		b.WriteString("\tEncrypt: map[string]int{")
		for _, s := range storeNames {
			if k, ok := p.Encrypt[s]; ok {
				fmt.Fprintf(&b, "%q: %d, ", s, k)
			}
		}
		b.WriteString("},\n")
	}
	b.WriteString("\tSteps: []Step{\n")
	for _, s := range p.Steps {
		fmt.Fprintf(&b, "\t\t{At: %d, Action: %q", s.At, s.Action)
		if s.N != 0 {
			fmt.Fprintf(&b, ", N: %d", s.N)
		}
		if s.Size != 0 {
			fmt.Fprintf(&b, ", Size: %d", s.Size)
		}
		if s.Index != 0 {
			fmt.Fprintf(&b, ", Index: %d", s.Index)
		}
		if s.Seed != 0 {
			fmt.Fprintf(&b, ", Seed: %#x", s.Seed)
		}
		if s.Dur != 0 {
			fmt.Fprintf(&b, ", Dur: %d", s.Dur)
		}
		if s.Target != "" {
			fmt.Fprintf(&b, ", Target: %q, Kind: %q, Stream: %q", s.Target, s.Kind, s.Stream)
		}
		for i, a := range s.Attrs {
			if i == 0 {
				b.WriteString(", Attrs: []Attr{")
			}
			fmt.Fprintf(&b, "{%q, %d}, ", a.Key, a.Val)
			if i == len(s.Attrs)-1 {
				b.WriteString("}")
			}
		}
		b.WriteString("},\n")
	}
	fmt.Fprintf(&b, "\t},\n\tFinalAppend: %d, FinalSeed: %#x}", p.FinalAppend, p.FinalSeed)
	return b.String()
}
