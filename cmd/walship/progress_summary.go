package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/walship/walship/pitr"
	"github.com/walship/walship/retention"
)

// The --json summaries long commands print on stdout when done: one JSON
// document, nothing else on stdout (their messages go to stderr then).
// Durations are seconds, as the agent's lag_seconds.

// restoreSummary is restore --json.
type restoreSummary struct {
	Store          string  `json:"store"`
	Timeline       uint32  `json:"timeline"`
	From           uint64  `json:"from"`
	To             uint64  `json:"to"`
	Entries        uint64  `json:"entries"`
	Segments       int     `json:"segments"`
	Bytes          int64   `json:"bytes"` // segment bytes fetched
	Base           string  `json:"base,omitempty"`
	BaseFiles      int     `json:"base_files,omitempty"`
	BaseBytes      int64   `json:"base_bytes,omitempty"`
	WALDir         string  `json:"wal_dir,omitempty"`
	Format         string  `json:"format,omitempty"` // of the restored log: binary or json
	DataDir        string  `json:"data_dir,omitempty"`
	DryRun         bool    `json:"dry_run"`
	ElapsedSeconds float64 `json:"elapsed_seconds"`
}

func planSummary(p *pitr.Plan) restoreSummary {
	s := restoreSummary{Store: p.Store, Timeline: p.Timeline, From: p.From, To: p.To, Entries: p.Entries(),
		Segments: p.Segments.Len(), Bytes: p.Bytes, DryRun: true}
	if p.Base != nil {
		s.Base, s.BaseFiles, s.BaseBytes = p.Base.Key, p.Base.Files, p.Base.Bytes
	}
	return s
}

func resultSummary(p *pitr.Plan, r pitr.Result) restoreSummary {
	return restoreSummary{Store: p.Store, Timeline: p.Timeline, From: r.From, To: r.To, Entries: r.Entries,
		Segments: r.Segments, Bytes: r.Bytes, Base: r.Base, BaseFiles: r.BaseFiles, BaseBytes: r.BaseBytes,
		WALDir: r.WALDir, Format: r.Format.String(), DataDir: r.DataDir, ElapsedSeconds: seconds(r.Elapsed)}
}

// copySummary is copy --json.
type copySummary struct {
	From string `json:"from"`
	To   string `json:"to"`
	pitr.CopyStats
	ElapsedSeconds float64 `json:"elapsed_seconds"`
}

// pruneSummary is one store of prune --json: what was deleted (in a dry
// run, what would be).
type pruneSummary struct {
	Store          string                 `json:"store"`
	DryRun         bool                   `json:"dry_run"`
	Deleted        map[retention.Kind]int `json:"deleted"` // per kind
	Objects        int                    `json:"objects"`
	Bytes          int64                  `json:"bytes"`
	ChunksSpared   int                    `json:"chunks_spared"`
	ChunksDeferred int                    `json:"chunks_deferred"`
	Notes          []string               `json:"notes"`
	// List is what "list" holds, with --list or --dry-run. walship writes
	// it from plan (writePruneJSON); the field is for reading it back.
	List           []deletion `json:"list,omitempty"`
	ElapsedSeconds float64    `json:"elapsed_seconds"`
	Error          string     `json:"error,omitempty"`

	plan *retention.PrunePlan // whose deletions writePruneJSON writes as "list"
}

type deletion struct {
	Kind   retention.Kind `json:"kind"`
	Key    string         `json:"key"`
	Bytes  int64          `json:"bytes"`
	Reason string         `json:"reason"`
}

// writePruneJSON writes sums as printJSON does, each plan's deletions as
// its "list", read back from the plan one at a time as they are written:
// a dry run of a prune that deletes a million segments holds none of them
// as a list.
func writePruneJSON(w io.Writer, sums []pruneSummary) error {
	bw := bufio.NewWriter(w)
	bw.WriteString("[")
	for i, s := range sums {
		if i > 0 {
			bw.WriteString(",")
		}
		b, err := json.MarshalIndent(s, "  ", "  ")
		if err != nil {
			return err
		}
		bw.WriteString("\n  ")
		if s.plan == nil || s.plan.Count() == 0 {
			bw.Write(b)
			continue
		}
		// b ends in the summary's closing brace: the list goes before it.
		bw.Write(bytes.TrimSuffix(b, []byte("\n  }")))
		bw.WriteString(",\n    \"list\": [")
		n := 0
		for d := range s.plan.All() {
			if n > 0 {
				bw.WriteString(",")
			}
			b, err := json.MarshalIndent(deletion{Kind: d.Kind, Key: d.Key, Bytes: d.Size, Reason: d.Reason}, "      ", "  ")
			if err != nil {
				return err
			}
			bw.WriteString("\n      ")
			bw.Write(b)
			n++
		}
		if err := s.plan.Segments.Err(); err != nil {
			return fmt.Errorf("prune %s: %w", s.Store, err)
		}
		bw.WriteString("\n    ]\n  }")
	}
	if len(sums) > 0 {
		bw.WriteString("\n")
	}
	bw.WriteString("]\n")
	return bw.Flush()
}

func seconds(d time.Duration) float64 { return d.Round(time.Millisecond).Seconds() }

// printJSON writes v as indented JSON.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
