package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/walship/walship/backends"
	"github.com/walship/walship/pitr"
)

// sealedNote stands for the fields of an encrypted record that no identity
// given opens.
const sealedNote = "(sealed: --identity FILE shows the rest)"

func cmdList(args []string, stdout io.Writer) error {
	fs := newFlagSet("list", "list STORE_URL [segments|timelines|snapshots|points] [--json] [--identity FILE]")
	cfgPath := fs.String("config", "", "YAML config `file`: list what all its stores hold together")
	asJSON := fs.Bool("json", false, "print JSON")
	timeline := fs.Uint("timeline", 0, "only this timeline's segments")
	idFlags := addIdentityFlags(fs)
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	ids, err := idFlags.load()
	if err != nil {
		return err
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	var url string
	if cfg == nil {
		if len(pos) == 0 {
			return usageError("missing STORE_URL")
		}
		url, pos = pos[0], pos[1:]
	}
	what := "segments"
	if len(pos) == 1 {
		what = pos[0]
	} else if len(pos) > 1 {
		return usageError("too many arguments")
	}
	switch what {
	case "segments", "timelines", "snapshots", "points":
	default:
		return usageError("unknown listing %q: want segments, timelines, snapshots or points", what)
	}
	ctx := context.Background()
	st, _, closeStore, err := readStores(ctx, url, cfg, "")
	if err != nil {
		return err
	}
	defer closeStore()
	var rows any
	tw := tabwriter.NewWriter(stdout, 2, 8, 2, ' ', 0)
	switch what {
	case "timelines":
		tls, err := pitr.ListTimelinesWith(ctx, st, ids)
		if err != nil {
			return err
		}
		rows = tls
		if !*asJSON {
			fmt.Fprintln(tw, "TIMELINE\tPARENT\tFORK\tSTART\tCREATED\tREASON")
			for _, t := range tls {
				if t.Time.IsZero() {
					fmt.Fprintf(tw, "%d\t%d\t%d\t%d\t-\t%s\n", t.ID, t.Parent, t.ForkIndex, t.StartIndex, sealedNote)
					continue
				}
				fmt.Fprintf(tw, "%d\t%d\t%d\t%d\t%s\t%s\n", t.ID, t.Parent, t.ForkIndex, t.StartIndex, t.Time.Format(time.RFC3339), t.Reason)
			}
		}
	case "snapshots":
		snaps, err := pitr.ListSnapshots(ctx, st)
		if err != nil {
			return err
		}
		rows = snaps
		if !*asJSON {
			fmt.Fprintln(tw, "TIMELINE\tINDEX\tTAKEN\tFILES\tBYTES\tMETHOD\tKEY")
			for _, s := range snaps {
				if s.Problem != "" {
					fmt.Fprintf(tw, "%d\t%d\t-\t-\t-\t-\t%s  UNREADABLE: %s\n", s.Timeline, s.Index, s.Key, s.Problem)
					continue
				}
				files, method := fmt.Sprint(s.Files), s.Method
				if s.Encrypted { // sealed: not known without an identity
					files, method = "-", "encrypted"
				}
				fmt.Fprintf(tw, "%d\t%d\t%s\t%s\t%d\t%s\t%s\n", s.Timeline, s.Index, s.Time.UTC().Format(time.RFC3339), files, s.Bytes, method, s.Key)
			}
		}
	case "points":
		pts, err := pitr.ListPointsWith(ctx, st, ids)
		if err != nil {
			return err
		}
		rows = pts
		if !*asJSON {
			fmt.Fprintln(tw, "NAME\tTIMELINE\tINDEX\tENTRY TIME\tCREATED\tPINNED")
			for _, p := range pts {
				if p.Created.IsZero() {
					fmt.Fprintf(tw, "%s\t%d\t%d\t-\t-\t%v  %s\n", p.Name, p.Timeline, p.Index, p.Pinned, sealedNote)
					continue
				}
				fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\t%v\n", p.Name, p.Timeline, p.Index, p.Time.UTC().Format(time.RFC3339Nano), p.Created.UTC().Format(time.RFC3339), p.Pinned)
			}
		}
	case "segments":
		return listSegments(ctx, st, uint32(*timeline), *asJSON, stdout)
	}
	if *asJSON {
		return printJSON(stdout, rows)
	}
	return tw.Flush()
}

// listSegments prints the segments as the store lists them, holding none:
// a store of a million segments lists in the memory of a few. The table's
// columns are aligned a block of segmentBlock rows at a time; JSON is one
// array, written element by element.
func listSegments(ctx context.Context, st backends.Store, timeline uint32, asJSON bool, stdout io.Writer) error {
	w := bufio.NewWriter(stdout)
	if asJSON {
		sep := "[\n  "
		err := pitr.EachSegment(ctx, st, timeline, func(s pitr.SegmentInfo) error {
			b, err := json.MarshalIndent(s, "  ", "  ")
			if err != nil {
				return err
			}
			w.WriteString(sep)
			sep = ",\n  "
			_, err = w.Write(b)
			return err
		})
		if err != nil {
			return err
		}
		if sep == "[\n  " {
			w.WriteString("[]\n")
		} else {
			w.WriteString("\n]\n")
		}
		return w.Flush()
	}
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "TIMELINE\tFIRST\tLAST\tBYTES\tNEWEST ENTRY\tKEY")
	n := 0
	err := pitr.EachSegment(ctx, st, timeline, func(s pitr.SegmentInfo) error {
		fmt.Fprintf(tw, "%d\t%d\t%d\t%d\t%s\t%s\n", s.Name.Timeline, s.Name.First, s.Name.Last, s.Size, s.MaxTime().Format(time.RFC3339Nano), s.Key())
		if n++; n%segmentBlock == 0 {
			return tw.Flush()
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	return w.Flush()
}

// segmentBlock is how many rows of `list segments` are aligned together.
const segmentBlock = 1000
