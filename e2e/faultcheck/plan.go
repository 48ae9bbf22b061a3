package faultcheck

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"time"
)

// Action is what one step does.
type Action string

// The actions a plan is made of.
const (
	Append        Action = "append"         // N entries, sizes drawn from Seed
	AppendLarge   Action = "append_large"   // one entry of Size bytes (up to 4 MiB)
	TruncateFront Action = "truncate_front" // the source's first index becomes Index
	TruncateBack  Action = "truncate_back"  // the source's last index becomes Index, then N rewritten entries
	Idle          Action = "idle"           // nothing for Dur
	AgentStart    Action = "agent_start"
	AgentStop     Action = "agent_stop" // SIGTERM, wait for the exit
	AgentKill     Action = "agent_kill" // SIGKILL
	ToxicAdd      Action = "toxic_add"  // Kind on Target's proxy, Stream, Attrs
	ToxicRemove   Action = "toxic_remove"
	MinioStop     Action = "minio_stop" // SIGSTOP
	MinioCont     Action = "minio_cont" // SIGCONT
	MinioKill     Action = "minio_kill" // SIGKILL (the server stays down until minio_restart)
	MinioRestart  Action = "minio_restart"
	GCSStop       Action = "gcs_stop" // SIGSTOP of fake-gcs-server
	GCSCont       Action = "gcs_cont" // SIGCONT
	Fill          Action = "fill"     // fill the state dir's tmpfs until ENOSPC
	Unfill        Action = "unfill"   // free it again
)

// Fault kinds, as counted in the summary. The first five are Toxiproxy
// toxics (their names are Toxiproxy's).
const (
	KindLatency   = "latency"
	KindTimeout   = "timeout"
	KindResetPeer = "reset_peer"
	KindBandwidth = "bandwidth"
	KindSlicer    = "slicer"
	KindSigstop   = "minio_sigstop"
	KindMinioKill = "minio_kill"
	KindENOSPC    = "enospc"
	KindAgentKill = "agent_kill"
	KindGCSStop   = "gcs_sigstop"
)

// Kinds is every fault kind; run r of a check focuses on Kinds[r%len(Kinds)],
// so any len(Kinds) consecutive runs cover them all.
var Kinds = []string{KindLatency, KindTimeout, KindResetPeer, KindBandwidth, KindSlicer,
	KindSigstop, KindMinioKill, KindENOSPC, KindAgentKill, KindGCSStop}

var toxicKinds = Kinds[:5]

// Remote store targets behind Toxiproxy.
const (
	TargetMinio = "minio"
	TargetAzure = "azure"
	TargetGCS   = "gcs" // fake-gcs-server
)

// remoteTargets are the stores behind Toxiproxy, each with a proxy of its
// own per run; a toxic goes on one of them.
var remoteTargets = []string{TargetMinio, TargetAzure, TargetGCS}

// Step is one planned action at an offset from the run's start.
type Step struct {
	At     time.Duration
	Action Action
	N      int           // entries (append, rewrite after truncate_back)
	Size   int           // append_large
	Index  uint64        // truncations
	Seed   uint64        // entry sizes of an append
	Dur    time.Duration // idle
	Target string        // toxics
	Kind   string        // toxic type
	Stream string        // upstream | downstream
	Attrs  []Attr        // toxic attributes, in order
}

// Attr is one toxic attribute.
type Attr struct {
	Key string
	Val int
}

func (s Step) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "+%6.3fs %s", s.At.Seconds(), s.Action)
	switch s.Action {
	case Append:
		fmt.Fprintf(&b, " n=%d sizes=%#x", s.N, s.Seed)
	case AppendLarge:
		fmt.Fprintf(&b, " size=%d", s.Size)
	case TruncateFront:
		fmt.Fprintf(&b, " first=%d", s.Index)
	case TruncateBack:
		fmt.Fprintf(&b, " last=%d rewrite=%d sizes=%#x", s.Index, s.N, s.Seed)
	case Idle:
		fmt.Fprintf(&b, " %v", s.Dur)
	case ToxicAdd:
		fmt.Fprintf(&b, " %s %s %s", s.Target, s.Kind, s.Stream)
		for _, a := range s.Attrs {
			fmt.Fprintf(&b, " %s=%d", a.Key, a.Val)
		}
	case ToxicRemove:
		fmt.Fprintf(&b, " %s", s.Target)
	}
	return b.String()
}

// Plan is everything one run does, drawn from (seed, run) alone: the same
// pair always gives the same plan.
type Plan struct {
	Seed         int64
	Run          int
	Focus        string // the fault kind this run is sure to have
	Format       string // binary | json
	Timestamp    string // be64:0 (an 8-byte unix-ns prefix in every entry) | observed
	SegmentSize  int    // the source log's segment file size
	SealInterval time.Duration
	SealSize     int64
	SpoolMax     int64 // 0: the agent's default
	Tmpfs        bool  // state dir on a 16 MiB tmpfs
	Snapshots    bool  // source.data hard-link bases every 2 s, retention of 2 bases pruned every 3 s
	Compaction   bool  // windows of 1 s and 4 s, a 2 s grace, a pass every 500 ms (else off)
	// CallTimeout is the agent's timeouts.call, how long a store call may
	// go without progress (0: the agent's default, 30 s, which no fault of
	// a drawn plan outlasts). A third of the drawn plans set 1 to 3 s
	// (drawCallTimeout), which their hangs (SIGSTOPs, timeout toxics, up
	// to a third of the run) often outlast: the deadline cuts calls among
	// the kills, truncations and other faults of the run.
	CallTimeout time.Duration
	// Encrypt names the stores whose objects the agent seals, each to one
	// of the run's identities (0 or 1); a store not named is plain.
	Encrypt     map[string]int
	Steps       []Step
	FinalAppend int    // entries written in the final phase
	FinalSeed   uint64 // their sizes
}

// CompactEncrypted says whether the agent compacts the encrypted stores
// too: in odd runs with compaction and encryption, it gets the first
// encrypted store's identity (compaction.identity_file), so stores sealed
// to the other identity are still skipped. Derived, not drawn: plans of a
// seed stay as they were.
func (p *Plan) CompactEncrypted() bool {
	return p.Compaction && len(p.Encrypt) > 0 && p.Run%2 == 1
}

// Stamped says whether entries carry their time (be64:0).
func (p *Plan) Stamped() bool { return p.Timestamp != "observed" }

func (p *Plan) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "plan seed=%d run=%d focus=%s format=%s timestamp=%s segment_size=%d seal=%v/%d spool_max=%d tmpfs=%v snapshots=%v compaction=%v encrypt=%s",
		p.Seed, p.Run, p.Focus, p.Format, p.Timestamp, p.SegmentSize, p.SealInterval, p.SealSize, p.SpoolMax, p.Tmpfs, p.Snapshots, p.Compaction, p.encryptString())
	if p.CallTimeout > 0 {
		fmt.Fprintf(&b, " call_timeout=%v", p.CallTimeout)
	}
	if p.CompactEncrypted() {
		b.WriteString(" compact_identity=yes")
	}
	b.WriteString("\n")
	for _, s := range p.Steps {
		fmt.Fprintf(&b, "  %s\n", s)
	}
	fmt.Fprintf(&b, "  final: remove toxics, resume/restart MinIO, resume fake-gcs-server, unfill; append n=%d sizes=%#x; agent_start; drain; agent_stop; restore and compare\n",
		p.FinalAppend, p.FinalSeed)
	return b.String()
}

// planner is the state MakePlan simulates so every step makes sense where
// it stands (the agent is killed only while running, truncations name
// indexes the log holds).
type planner struct {
	rng         *rand.Rand
	p           *Plan
	t           time.Duration
	first, last uint64
	agentUp     bool
	toxic       map[string]bool
	minio       string // up | stopped | killed
	gcs         string // up | stopped
	filled      bool
	pending     []Step // ends of faults, emitted when their time comes
	maxSteps    int
	focusAt     time.Duration
	focusPlaced bool
	truncKind   int
	truncPlaced bool
}

// MakePlan draws run run of seed seed: about d of steps (at most maxSteps).
func MakePlan(seed int64, run int, d time.Duration, maxSteps int) *Plan {
	rng := rand.New(rand.NewPCG(uint64(seed), uint64(run)*0x9e3779b97f4a7c15+1))
	p := &Plan{Seed: seed, Run: run, Focus: Kinds[run%len(Kinds)]}
	p.Format = []string{"binary", "json"}[rng.IntN(2)]
	p.Timestamp = []string{"be64:0", "observed"}[rng.IntN(2)]
	p.SegmentSize = []int{16 << 10, 64 << 10, 256 << 10, 1 << 20}[rng.IntN(4)]
	p.SealInterval = []time.Duration{250 * time.Millisecond, 500 * time.Millisecond, time.Second}[rng.IntN(3)]
	p.SealSize = []int64{256 << 10, 1 << 20, 4 << 20}[rng.IntN(3)]
	if rng.IntN(3) == 0 {
		p.SpoolMax = []int64{8 << 20, 32 << 20}[rng.IntN(2)]
	}
	p.Tmpfs = p.Focus == KindENOSPC || rng.IntN(6) == 0
	if maxSteps <= 0 {
		maxSteps = 1000
	}
	pl := &planner{rng: rng, p: p, toxic: map[string]bool{}, minio: "up", gcs: "up", maxSteps: maxSteps,
		focusAt: d/10 + time.Duration(rng.Int64N(int64(d/2))), truncKind: rng.IntN(3)}
	// Drawn apart so adding it left the step lists of earlier seeds as they were.
	p.Snapshots = !p.Tmpfs && rand.New(rand.NewPCG(uint64(seed), uint64(run)+0x5eed)).IntN(2) == 0
	p.Compaction = rand.New(rand.NewPCG(uint64(seed), uint64(run)+0xc0de)).IntN(2) == 0
	p.Encrypt = drawEncryption(seed, run)
	p.CallTimeout = drawCallTimeout(seed, run)
	pl.generate(d)
	p.FinalAppend = 5 + rng.IntN(40)
	p.FinalSeed = rng.Uint64()
	return p
}

// drawCallTimeout draws a plan's CallTimeout from a stream of its own, so
// that adding it left the steps of earlier seeds' plans as they were.
func drawCallTimeout(seed int64, run int) time.Duration {
	rng := rand.New(rand.NewPCG(uint64(seed), uint64(run)+0xca11))
	if rng.IntN(3) != 0 {
		return 0
	}
	return time.Duration(1000+rng.IntN(2001)) * time.Millisecond
}

func (pl *planner) emit(s Step) {
	s.At = pl.t
	pl.p.Steps = append(pl.p.Steps, s)
}

func (pl *planner) later(after time.Duration, s Step) {
	s.At = pl.t + after
	pl.pending = append(pl.pending, s)
}

// flush emits the pending steps due by pl.t (all of them if all).
func (pl *planner) flush(all bool) {
	slices.SortStableFunc(pl.pending, func(a, b Step) int { return int(a.At - b.At) })
	for len(pl.pending) > 0 && (all || pl.pending[0].At <= pl.t) {
		s := pl.pending[0]
		pl.pending = pl.pending[1:]
		pl.apply(s)
		pl.p.Steps = append(pl.p.Steps, s)
	}
}

// apply updates the simulated state for a pending step.
func (pl *planner) apply(s Step) {
	switch s.Action {
	case ToxicRemove:
		pl.toxic[s.Target] = false
	case MinioCont, MinioRestart:
		pl.minio = "up"
	case GCSCont:
		pl.gcs = "up"
	case Unfill:
		pl.filled = false
	}
}

func (pl *planner) generate(d time.Duration) {
	rng := pl.rng
	if rng.IntN(5) != 0 {
		pl.emit(Step{Action: AgentStart})
		pl.agentUp = true
	}
	for pl.t < d && len(pl.p.Steps)+len(pl.pending) < pl.maxSteps-2 {
		pl.t += time.Duration(20+rng.IntN(400)) * time.Millisecond
		pl.flush(false)
		if !pl.focusPlaced && pl.t >= pl.focusAt {
			// A busy resource (a toxic on every remote store, MinIO or
			// fake-gcs-server down) puts it off.
			if pl.focusPlaced = pl.fault(pl.p.Focus, d); pl.focusPlaced {
				continue
			}
		}
		if !pl.truncPlaced && pl.t >= d/2 && pl.last > pl.first+2 {
			pl.truncPlaced = true
			pl.truncate(pl.truncKind)
			continue
		}
		pl.step(d)
	}
	pl.flush(true)
	if !pl.focusPlaced { // a tiny step budget: still have the focus fault
		pl.t += 100 * time.Millisecond
		pl.fault(pl.p.Focus, d)
		pl.flush(true)
	}
	slices.SortStableFunc(pl.p.Steps, func(a, b Step) int { return int(a.At - b.At) })
}

// step draws one step by weight among those that make sense now.
func (pl *planner) step(d time.Duration) {
	rng := pl.rng
	type choice struct {
		w int
		f func()
	}
	cs := []choice{
		{40, func() { pl.appendN() }},
		{3, func() {
			size := int(math.Exp(math.Log(256<<10) + rng.Float64()*(math.Log(4<<20)-math.Log(256<<10))))
			pl.emit(Step{Action: AppendLarge, Size: size})
			pl.last++
		}},
		{4, func() {
			dur := time.Duration(300+rng.IntN(1500)) * time.Millisecond
			pl.emit(Step{Action: Idle, Dur: dur})
			pl.t += dur
		}},
	}
	if pl.last > pl.first+1 {
		cs = append(cs, choice{6, func() { pl.truncate(rng.IntN(3)) }})
	}
	if pl.agentUp {
		cs = append(cs, choice{3, func() { pl.emit(Step{Action: AgentStop}); pl.agentUp = false }},
			choice{4, func() { pl.emit(Step{Action: AgentKill}); pl.agentUp = false }})
	} else {
		cs = append(cs, choice{14, func() {
			pl.emit(Step{Action: AgentStart})
			pl.agentUp = true
			if rng.IntN(3) == 0 { // kill during startup, fork check or reconcile
				pl.t += time.Duration(rng.IntN(300)) * time.Millisecond
				pl.emit(Step{Action: AgentKill})
				pl.agentUp = false
			}
		}})
	}
	cs = append(cs, choice{5, func() {
		if !pl.fault(Kinds[rng.IntN(len(Kinds))], d) {
			pl.appendN()
		}
	}})
	total := 0
	for _, c := range cs {
		total += c.w
	}
	n := rng.IntN(total)
	for _, c := range cs {
		if n < c.w {
			c.f()
			return
		}
		n -= c.w
	}
}

func (pl *planner) appendN() {
	n := 1 + pl.rng.IntN(12)
	if pl.rng.IntN(8) == 0 {
		n = 20 + pl.rng.IntN(200)
	}
	pl.emit(Step{Action: Append, N: n, Seed: pl.rng.Uint64()})
	pl.last += uint64(n)
	if pl.first == 0 {
		pl.first = 1
	}
}

// truncate emits a TruncateFront (kind 0), a TruncateBack with nothing
// written after it (1) or a TruncateBack followed by rewritten entries (2).
func (pl *planner) truncate(kind int) {
	rng := pl.rng
	if pl.last < pl.first+1 {
		pl.appendN()
		return
	}
	span := pl.last - pl.first
	switch kind {
	case 0:
		idx := pl.first + 1 + rng.Uint64N(span) // keeps at least the last entry
		pl.emit(Step{Action: TruncateFront, Index: idx})
		pl.first = idx
	default:
		idx := pl.first + rng.Uint64N(span) // keeps at least the first entry
		n := 0
		if kind == 2 {
			n = 1 + rng.IntN(int(pl.last-idx)+5)
		}
		pl.emit(Step{Action: TruncateBack, Index: idx, N: n, Seed: rng.Uint64()})
		pl.last = idx + uint64(n)
	}
}

// fault emits the start of a fault of kind and schedules its end; false
// if the resource it needs is busy.
func (pl *planner) fault(kind string, d time.Duration) bool {
	rng := pl.rng
	dur := time.Duration(500+rng.IntN(int(max(d/3, time.Second)/time.Millisecond))) * time.Millisecond
	switch kind {
	case KindSigstop, KindMinioKill:
		if pl.minio != "up" {
			return false
		}
		if kind == KindSigstop {
			pl.emit(Step{Action: MinioStop})
			pl.minio = "stopped"
			pl.later(dur, Step{Action: MinioCont})
		} else {
			pl.emit(Step{Action: MinioKill})
			pl.minio = "killed"
			pl.later(dur, Step{Action: MinioRestart})
		}
	case KindGCSStop:
		if pl.gcs != "up" {
			return false
		}
		pl.emit(Step{Action: GCSStop})
		pl.gcs = "stopped"
		pl.later(dur, Step{Action: GCSCont})
	case KindENOSPC:
		if !pl.p.Tmpfs || pl.filled {
			return false
		}
		pl.emit(Step{Action: Fill})
		pl.filled = true
		pl.later(dur, Step{Action: Unfill})
	case KindAgentKill:
		if !pl.agentUp {
			pl.emit(Step{Action: AgentStart})
			pl.t += time.Duration(rng.IntN(500)) * time.Millisecond
		}
		pl.emit(Step{Action: AgentKill})
		pl.agentUp = false
	default:
		// A drawn target that has a toxic already gives way to the next
		// free one.
		k, target := rng.IntN(len(remoteTargets)), ""
		for i := range remoteTargets {
			if t := remoteTargets[(k+i)%len(remoteTargets)]; !pl.toxic[t] {
				target = t
				break
			}
		}
		if target == "" {
			return false
		}
		s := Step{Action: ToxicAdd, Target: target, Kind: kind, Stream: []string{"upstream", "downstream"}[rng.IntN(2)]}
		switch kind {
		case KindLatency:
			s.Attrs = []Attr{{"latency", 50 + rng.IntN(2000)}, {"jitter", rng.IntN(200)}}
		case KindTimeout:
			s.Attrs = []Attr{{"timeout", 0}}
		case KindResetPeer:
			s.Attrs = []Attr{{"timeout", rng.IntN(500)}}
		case KindBandwidth:
			s.Attrs = []Attr{{"rate", 10}}
		case KindSlicer:
			avg := 1 + rng.IntN(64)
			s.Attrs = []Attr{{"average_size", avg}, {"size_variation", rng.IntN(avg)}, {"delay", rng.IntN(2000)}} // delay in µs
		}
		pl.emit(s)
		pl.toxic[target] = true
		pl.later(dur, Step{Action: ToxicRemove, Target: target})
	}
	return true
}
