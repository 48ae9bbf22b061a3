package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	"github.com/walship/walship/backends"
	"github.com/walship/walship/lease"
	"github.com/walship/walship/pitr"
)

// agentID is the agent replicate would run as, for judging a store's
// lease: its holder is the agent that ships (or last shipped) there.
type agentID = lease.Info

func agentIdentity(source, stateDir string) agentID {
	return lease.Self(stateDir, source)
}

// describeBackup says what walship backup a store already holds: its
// timelines, the newest entry shipped, and who holds its lease. It fails
// when the store belongs to another source, or to another agent that is
// still shipping there: replicate would refuse it or mix two logs.
func describeBackup(ctx context.Context, st backends.Store, self agentID) (string, error) {
	tls, err := pitr.ListTimelines(ctx, st)
	if err != nil {
		return "", fmt.Errorf("%w (run 'walship verify' on it)", err)
	}
	l, err := readLease(ctx, st)
	if err != nil {
		return "", err
	}
	if len(tls) == 0 && l == nil {
		return "empty: no walship backup here yet", nil
	}
	var parts []string
	if len(tls) > 0 {
		newest := tls[len(tls)-1].ID
		segs, err := pitr.ListSegments(ctx, st, newest)
		if err != nil {
			return "", err
		}
		tail := "no segment yet"
		if len(segs) > 0 {
			tail = fmt.Sprintf("entries up to %d", segs[len(segs)-1].Name.Last)
		}
		parts = append(parts, fmt.Sprintf("%d timeline(s); the newest, %d, holds %s", len(tls), newest, tail))
	}
	if l == nil {
		parts = append(parts, "no lease (its source is not recorded)")
		return strings.Join(parts, "; "), nil
	}
	parts = append(parts, l.describe())
	found := strings.Join(parts, "; ")
	switch {
	case self.Source != "" && l.Holder.Source != "" && filepath.Clean(l.Holder.Source) != filepath.Clean(self.Source):
		return "", fmt.Errorf("%s: this is the backup of another source, not of %s; shipping here would mix two logs: use another prefix", found, self.Source)
	case l.live(time.Now()) && !l.Holder.SameAgent(self):
		return "", fmt.Errorf("%s: another walship agent ships here; replicate would refuse it (use another prefix, or --takeover once that agent is gone)", found)
	}
	return found, nil
}

// leaseView is what check reads of the lease record (package lease owns
// the format; these fields are the documented ones it needs).
type leaseView struct {
	Format   string     `json:"format"`
	Version  int        `json:"version"`
	Holder   lease.Info `json:"holder"`
	Expires  time.Time  `json:"expires"`
	Released bool       `json:"released"`
}

// readLease reads the store's lease record; nil when there is none.
func readLease(ctx context.Context, st backends.Store) (*leaseView, error) {
	rc, err := st.Get(ctx, lease.Key, 0, -1)
	if backends.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read lease %s: %w", lease.Key, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, backends.MaxSwapSize+1))
	if err != nil {
		return nil, fmt.Errorf("read lease %s: %w", lease.Key, err)
	}
	var l leaseView
	if err := json.Unmarshal(b, &l); err != nil || l.Format != lease.Format {
		return nil, errors.Join(fmt.Errorf("%s is not a walship lease record: something else writes under this prefix", lease.Key), err)
	}
	if l.Version != lease.Version {
		return nil, fmt.Errorf("%s has lease format version %d, this walship knows %d: upgrade walship", lease.Key, l.Version, lease.Version)
	}
	return &l, nil
}

func (l *leaseView) live(now time.Time) bool { return !l.Released && now.Before(l.Expires) }

func (l *leaseView) describe() string {
	switch {
	case l.Released:
		return "lease released by " + l.Holder.String()
	case l.live(time.Now()):
		return fmt.Sprintf("lease held by %s until %s", l.Holder, l.Expires.UTC().Format(time.RFC3339))
	}
	return fmt.Sprintf("lease of %s expired at %s", l.Holder, l.Expires.UTC().Format(time.RFC3339))
}
