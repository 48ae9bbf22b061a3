package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/walship/walship/agent"
)

func cmdStatus(args []string, stdout io.Writer) error {
	fs := newFlagSet("status", "status --addr HOST:PORT [--json]")
	addr := fs.String("addr", "127.0.0.1:9090", "the running agent's metrics `address` (metrics.addr / --metrics-addr)")
	asJSON := fs.Bool("json", false, "print the agent's JSON as is")
	cfgPath := fs.String("config", "", "YAML config `file`: use its metrics.addr")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	if cfg != nil && cfg.Metrics.Addr != "" && !flagSet(fs, "addr") {
		*addr = cfg.Metrics.Addr
	}
	if len(pos) > 0 {
		return usageError("status takes no arguments")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// /status is open; the token, when there is one, goes along anyway so
	// an agent behind a proxy that guards every path still answers.
	token, err := adminToken(cfg)
	if err != nil {
		return err
	}
	resp, err := adminCall(ctx, "GET", *addr, "/status", nil, token)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("agent at %s answered %s", *addr, resp.Status)
	}
	var st agent.Status
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return fmt.Errorf("agent at %s: bad status: %w", *addr, err)
	}
	if *asJSON {
		return printJSON(stdout, st)
	}
	fmt.Fprintf(stdout, "timeline %d, read up to entry %d, sealed up to %d, spool %d segments (%d bytes)\n",
		st.Timeline, st.Tailed, st.Sealed, st.Spooled, st.SpoolBytes)
	for _, f := range []struct{ what, msg string }{{"source", st.SourceError}, {"seal", st.SealError}, {"state", st.StateError}} {
		if f.msg != "" {
			fmt.Fprintf(stdout, "%s: %s\n", f.what, f.msg) // as /healthz says it
		}
	}
	tw := tabwriter.NewWriter(stdout, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "STORE\tTIMELINE\tSHIPPED\tLAG ENTRIES\tLAG\tSTATE\tGAPS")
	for _, s := range st.Stores {
		state := "ok"
		if s.Degraded {
			state = "DEGRADED"
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%.1fs\t%s\t%d\n", s.Name, s.Timeline, s.Shipped, s.LagEntries, s.LagSeconds, state, len(s.Gaps))
	}
	return tw.Flush()
}
