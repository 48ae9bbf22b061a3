package faultcheck

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"
)

// minimalPlans are failures the randomized runs found, cut down by hand to
// the steps that matter (see the report of issue 8). Each is a plan like
// any other: the oracle judges it the same way.
var minimalPlans = []struct {
	name string
	plan Plan
}{
	{
		// From seed 20261130 run 5 (-duration 8s): the agent is killed, the
		// database truncates back below what walship sealed and writes new
		// entries past the old end while the agent is down. On restart the
		// fork check must find the rewrite; restores must give the new
		// entries, never the old ones.
		name: "truncate_back_while_killed_then_regrown",
		plan: Plan{Seed: 101, Format: "binary", Timestamp: "be64:0", SegmentSize: 64 << 10, SealInterval: 250 * time.Millisecond, SealSize: 256 << 10,
			Steps: []Step{
				{At: 0, Action: AgentStart},
				{At: 100 * time.Millisecond, Action: Append, N: 60, Seed: 1},
				{At: 1500 * time.Millisecond, Action: AgentKill},
				{At: 1600 * time.Millisecond, Action: TruncateBack, Index: 20, N: 60, Seed: 2},
				{At: 1700 * time.Millisecond, Action: AgentStart},
			},
			FinalAppend: 5, FinalSeed: 3},
	},
	{
		// From seed 20261130 run 3 (-duration 8s): killed, truncated back
		// and front while down, restarted on a one-entry log that grows.
		name: "truncate_back_and_front_while_killed",
		plan: Plan{Seed: 103, Format: "json", Timestamp: "be64:0", SegmentSize: 256 << 10, SealInterval: 250 * time.Millisecond, SealSize: 4 << 20,
			Steps: []Step{
				{At: 0, Action: AgentStart},
				{At: 100 * time.Millisecond, Action: Append, N: 40, Seed: 1},
				{At: 1500 * time.Millisecond, Action: AgentKill},
				{At: 1600 * time.Millisecond, Action: TruncateBack, Index: 10},
				{At: 1700 * time.Millisecond, Action: TruncateFront, Index: 10},
				{At: 1800 * time.Millisecond, Action: AgentStart},
				{At: 2000 * time.Millisecond, Action: Append, N: 50, Seed: 2},
			},
			FinalAppend: 5, FinalSeed: 3},
	},
	{
		// From seed 20261130 run 3 (-duration 8s): as above, but the source
		// is shorter than what was sealed when the agent starts again, and
		// grows past it while the agent runs.
		name: "truncate_back_while_killed_restart_short",
		plan: Plan{Seed: 102, Format: "json", Timestamp: "be64:0", SegmentSize: 256 << 10, SealInterval: 250 * time.Millisecond, SealSize: 4 << 20,
			Steps: []Step{
				{At: 0, Action: AgentStart},
				{At: 100 * time.Millisecond, Action: Append, N: 40, Seed: 1},
				{At: 1500 * time.Millisecond, Action: AgentKill},
				{At: 1600 * time.Millisecond, Action: TruncateBack, Index: 10},
				{At: 1700 * time.Millisecond, Action: AgentStart},
				{At: 2000 * time.Millisecond, Action: Append, N: 50, Seed: 2},
			},
			FinalAppend: 5, FinalSeed: 3},
	},
	{
		// Guarantee 9 at startup: the agent starts while Azurite is a black
		// hole and a source is being written; the file store must stay
		// within the seal interval + 3 s all along.
		name: "start_while_store_black_holed",
		plan: Plan{Seed: 104, Format: "binary", Timestamp: "be64:0", SegmentSize: 64 << 10, SealInterval: 500 * time.Millisecond, SealSize: 1 << 20,
			Steps: append([]Step{
				{At: 0, Action: ToxicAdd, Target: TargetAzure, Kind: KindTimeout, Stream: "upstream", Attrs: []Attr{{"timeout", 0}}},
				{At: 100 * time.Millisecond, Action: AgentStart},
			}, append(steady(200*time.Millisecond, 9*time.Second, 250*time.Millisecond),
				Step{At: 9500 * time.Millisecond, Action: ToxicRemove, Target: TargetAzure})...),
			FinalAppend: 5, FinalSeed: 3},
	},
}

// steady is an append of a few entries every `every` from `from` to `to`.
func steady(from, to, every time.Duration) []Step {
	var out []Step
	for at := from; at < to; at += every {
		out = append(out, Step{At: at, Action: Append, N: 3, Seed: uint64(at)})
	}
	return out
}

// TestFaultCheckMinimal replays the minimal plans against the real servers
// (skipped without them, failed with CI=true). FAULTCHECK_WALSHIP names a
// walship binary to check instead of building this module's.
func TestFaultCheckMinimal(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	env, missing := EnvFromOS()
	if len(missing) > 0 {
		msg := "test servers not configured (" + strings.Join(missing, ", ") + " unset): run through scripts/testenv.sh"
		if os.Getenv("CI") == "true" || os.Getenv("WALSHIP_REQUIRE_SERVERS") == "1" {
			t.Fatal(msg + "; CI=true / WALSHIP_REQUIRE_SERVERS=1 forbid skipping")
		}
		t.Skip(msg)
	}
	var out strings.Builder
	c, err := New(context.Background(), Options{Workdir: t.TempDir(), Out: &out, Walship: os.Getenv("FAULTCHECK_WALSHIP")}, env)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, mp := range minimalPlans {
		t.Run(mp.name, func(t *testing.T) {
			p := mp.plan
			p.Focus = "minimal:" + mp.name
			res := c.Run(context.Background(), &p)
			if res.Failed() {
				var b strings.Builder
				res.Report(&b)
				t.Errorf("\n%s", b.String())
			} else {
				t.Logf("ok: %d entries, %d restores, %d compared", res.Written, len(res.Restores), compared(res))
			}
		})
	}
}
