package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/walship/walship/pitr"
)

func cmdVerify(args []string, stdout io.Writer) error {
	fs := newFlagSet("verify", "verify STORE_URL [--json]")
	cfgPath := fs.String("config", "", "YAML config `file`: verify each of its stores")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	var url string
	switch {
	case len(pos) == 1:
		url = pos[0]
	case len(pos) == 0 && cfg != nil:
	default:
		return usageError("want one STORE_URL (or --config FILE)")
	}
	ctx := context.Background()
	_, stores, closeStores, err := readStores(ctx, url, cfg, "")
	if err != nil {
		return err
	}
	defer closeStores()
	type storeReport struct {
		Store  string       `json:"store"`
		Report *pitr.Report `json:"report"`
	}
	var reports []storeReport
	damaged := 0
	for _, s := range stores {
		rep, err := pitr.Verify(ctx, s.Store)
		if err != nil {
			return fmt.Errorf("verify %s: %w", s.Name, err)
		}
		reports = append(reports, storeReport{s.Name, rep})
		if !rep.OK() {
			damaged++
		}
		if !*asJSON {
			fmt.Fprintf(stdout, "store %s\n", s.Name)
			rep.Describe(stdout)
		}
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(reports); err != nil {
			return err
		}
	}
	if damaged > 0 {
		return exitCode{3, fmt.Errorf("damage found in %d of %d stores (see above)", damaged, len(stores))}
	}
	return nil
}
