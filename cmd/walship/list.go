package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/walship/walship/pitr"
)

func cmdList(args []string, stdout io.Writer) error {
	fs := newFlagSet("list", "list STORE_URL [segments|timelines] [--json]")
	cfgPath := fs.String("config", "", "YAML config `file`: list what all its stores hold together")
	asJSON := fs.Bool("json", false, "print JSON")
	timeline := fs.Uint("timeline", 0, "only this timeline's segments")
	pos, err := parseArgs(fs, args)
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
	if what != "segments" && what != "timelines" {
		return usageError("unknown listing %q: want segments or timelines", what)
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
		tls, err := pitr.ListTimelines(ctx, st)
		if err != nil {
			return err
		}
		rows = tls
		if !*asJSON {
			fmt.Fprintln(tw, "TIMELINE\tPARENT\tFORK\tSTART\tCREATED\tREASON")
			for _, t := range tls {
				fmt.Fprintf(tw, "%d\t%d\t%d\t%d\t%s\t%s\n", t.ID, t.Parent, t.ForkIndex, t.StartIndex, t.Time.Format(time.RFC3339), t.Reason)
			}
		}
	case "segments":
		segs, err := pitr.ListSegments(ctx, st, uint32(*timeline))
		if err != nil {
			return err
		}
		rows = segs
		if !*asJSON {
			fmt.Fprintln(tw, "TIMELINE\tFIRST\tLAST\tBYTES\tNEWEST ENTRY\tKEY")
			for _, s := range segs {
				fmt.Fprintf(tw, "%d\t%d\t%d\t%d\t%s\t%s\n", s.Name.Timeline, s.Name.First, s.Name.Last, s.Size, s.MaxTime().Format(time.RFC3339Nano), s.Key)
			}
		}
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rows)
	}
	return tw.Flush()
}
