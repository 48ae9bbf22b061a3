package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/walship/walship/agent"
)

func cmdSnapshot(args []string, stdout io.Writer) error {
	fs := newFlagSet("snapshot", "snapshot [--addr HOST:PORT]")
	addr := fs.String("addr", "127.0.0.1:9090", "the running agent's metrics `address` (metrics.addr / --metrics-addr)")
	timeout := fs.Duration("timeout", time.Hour, "how long to wait for the snapshot to be stored")
	cfgPath := fs.String("config", "", "YAML config `file`: use its metrics.addr and metrics.token_file (else the token comes from $WALSHIP_TOKEN)")
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
		return usageError("snapshot takes no arguments: it asks the running agent to take one")
	}
	token, err := adminToken(cfg)
	if err != nil {
		return err
	}
	if token == "" {
		return fmt.Errorf("the agent's admin token is needed: set %s, or pass --config with metrics.token_file", agent.TokenEnv)
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	resp, err := adminCall(ctx, "POST", *addr, "/snapshot", nil, token)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != 200 {
		return fmt.Errorf("agent at %s refused the snapshot (%s): %s", *addr, resp.Status, bytes.TrimSpace(body))
	}
	var r struct {
		Key      string `json:"key"`
		Timeline uint32 `json:"timeline"`
		Index    uint64 `json:"index"`
		Files    int    `json:"files"`
		Bytes    int64  `json:"bytes"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return fmt.Errorf("agent at %s: bad answer: %w", *addr, err)
	}
	fmt.Fprintf(stdout, "base snapshot stored: timeline %d, index %d, %d files, %d bytes (%s)\n", r.Timeline, r.Index, r.Files, r.Bytes, r.Key)
	return nil
}
