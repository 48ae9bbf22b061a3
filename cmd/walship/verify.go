package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/walship/walship/pitr"
)

func cmdVerify(args []string, stdout io.Writer) error {
	fs := newFlagSet("verify", "verify STORE_URL [--json]")
	cfgPath := fs.String("config", "", "YAML config `file` whose first store to verify")
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
	st, closeStore, err := firstStore(ctx, url, cfg)
	if err != nil {
		return err
	}
	defer closeStore()
	rep, err := pitr.Verify(ctx, st)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(stdout, "store %s\n", st.String())
		rep.Describe(stdout)
	}
	if !rep.OK() {
		return exitCode{3, errors.New("damage found (see above)")}
	}
	return nil
}
