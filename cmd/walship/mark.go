package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/walship/walship/agent"
	"github.com/walship/walship/crypt"
	"github.com/walship/walship/pitr"
	"github.com/walship/walship/segments"
)

func cmdMark(args []string, stdout io.Writer) error {
	fs := newFlagSet("mark", "mark STORE_URL NAME [--pin] [--index N|--time RFC3339] [--timeline N] [--identity FILE] [--encrypt-to FILE] | mark STORE_URL --delete NAME")
	cfgPath := fs.String("config", "", "YAML config `file`: mark the point in every one of its stores (instead of STORE_URL)")
	pin := fs.Bool("pin", false, "pin the point: retention keeps everything a restore to it needs")
	index := fs.Uint64("index", 0, "mark this entry `index` (default: the latest shipped entry)")
	at := fs.String("time", "", "mark the last entry at or before this `time` (RFC3339), as restore --time resolves it")
	timeline := fs.Uint("timeline", 0, "on this timeline's history (default: the newest)")
	del := fs.String("delete", "", "delete the restore point of this `name` instead")
	encryptTo := fs.String("encrypt-to", "", "age recipients `file` (age1... lines) to encrypt the point to, as the store's segments are (with --config, the config's encryption is used)")
	idFlags := addIdentityFlags(fs)
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	ids, err := idFlags.load()
	if err != nil {
		return err
	}
	if err := oneOf(fs, "index", "time"); err != nil {
		return err
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	var url string
	if cfg == nil {
		if len(pos) == 0 {
			return usageError("missing STORE_URL (or --config FILE)")
		}
		url, pos = pos[0], pos[1:]
	}
	var name string
	switch {
	case *del != "" && len(pos) == 0:
		name = *del
		for _, f := range []string{"pin", "index", "time", "timeline"} {
			if err := oneOf(fs, "delete", f); err != nil {
				return err
			}
		}
	case *del == "" && len(pos) == 1:
		name = pos[0]
	default:
		return usageError("want STORE_URL NAME, or STORE_URL --delete NAME (with --config, no STORE_URL)")
	}
	if err := segments.ValidPointName(name); err != nil {
		return usageError("%v", err)
	}
	t := pitr.Target{Index: *index, Timeline: uint32(*timeline)}
	if *at != "" {
		if t.Time, err = time.Parse(time.RFC3339Nano, *at); err != nil {
			return usageError("--time %q: want RFC3339, e.g. 2026-11-21T10:31:00Z", *at)
		}
	}
	var recipients []*crypt.Recipient
	if *encryptTo != "" {
		if cfg != nil {
			return usageError("--encrypt-to: with --config the config's encryption names the recipients")
		}
		if recipients, err = crypt.ReadRecipientsFile(*encryptTo); err != nil {
			return usageError("--encrypt-to: %v", err)
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// With several stores this is their union: Mark resolves the position
	// on it and writes the point to each of them.
	st, stores, closeStores, err := readStores(ctx, url, cfg, "")
	if err != nil {
		return err
	}
	defer closeStores()
	if *del != "" {
		if err := pitr.DeletePoint(ctx, st, name); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "deleted restore point %s from %s\n", name, storeNames(stores))
		return nil
	}
	if cfg != nil {
		resolveRecipients(stores, cfg)
	} else {
		for i := range stores {
			stores[i].Recipients = recipients
		}
	}
	p, err := pitr.MarkWith(ctx, st, name, *pin, t, pitr.PointOptions{Identities: ids, SealTo: sealTo(stores)})
	if err != nil {
		if errors.Is(err, pitr.ErrBadTarget) {
			return usageError("%v", err)
		}
		return identityHint(err)
	}
	pinned := ""
	if p.Pinned {
		pinned = " (pinned)"
	}
	fmt.Fprintf(stdout, "marked restore point %s%s: timeline %d, index %d, entry time %s, in %s\n",
		p.Name, pinned, p.Timeline, p.Index, p.Time.UTC().Format(time.RFC3339Nano), storeNames(stores))
	fmt.Fprintf(stdout, "restore it with: walship restore STORE_URL OUT_DIR --point %s\n", p.Name)
	return nil
}

func storeNames(ss []agent.Store) string {
	names := make([]string, len(ss))
	for i, s := range ss {
		names[i] = s.Name
	}
	return strings.Join(names, ", ")
}
