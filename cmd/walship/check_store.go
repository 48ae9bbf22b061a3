package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/walship/walship/backends"
	"github.com/walship/walship/backends/deadline"
	"github.com/walship/walship/backends/storeurl"
	"github.com/walship/walship/config"
)

// The rows of one store, in order; a row that cannot be looked at because
// an earlier one failed is skipped.
const (
	rowReachable = "reachable"
	rowBucket    = "bucket exists"
	rowProbe     = "put/get/delete"
	rowCond      = "conditional create"
	rowClock     = "clock"
	rowBackup    = "existing backup"
)

// checkStore opens one store the way replicate does (storeurl, then the
// deadline decorator) and checks it step by step, each step bounded by
// opt.timeout.
func checkStore(ctx context.Context, rep *checkReport, tg storeTarget, cfg *config.Config, opt checkOptions, self agentID) {
	spec, err := storeurl.Parse(tg.url)
	if err != nil {
		rep.fail(storeLabel(tg, storeurl.Redact(tg.url)), "url", err.Error())
		return
	}
	name := storeLabel(tg, spec.Redacted)
	skipRest := func(why string, rows ...string) {
		for _, r := range rows {
			rep.skip(name, r, why)
		}
	}
	start := time.Now()
	raw, err := bounded(ctx, opt, func(ctx context.Context) (backends.Store, error) {
		st, err := storeurl.Build(ctx, spec)
		if err == nil {
			if err = storeurl.Check(ctx, st); err != nil {
				st.Close()
			}
		}
		return st, err
	})
	switch {
	case err != nil && backends.IsPermanent(err):
		rep.ok(name, rowReachable, spec.Redacted+" answered")
		rep.fail(name, rowBucket, err.Error())
		skipRest("the store refused to work", rowProbe, rowCond, rowClock, rowBackup)
		return
	case err != nil:
		rep.fail(name, rowReachable, err.Error()) // it names the store
		skipRest("the store did not answer", rowBucket, rowProbe, rowCond, rowClock, rowBackup)
		return
	}
	st := deadline.New(raw, deadlineOptions(cfg))
	defer st.Close()
	rep.ok(name, rowReachable, fmt.Sprintf("%s answered in %s", spec.Redacted, time.Since(start).Round(time.Millisecond)))
	rep.ok(name, rowBucket, "there, and the store accepts our requests")

	p := &probe{st: st, opt: opt}
	probeErr, condErr := p.run(ctx)
	if !rep.result(name, rowProbe, probeErr, "wrote, read back and deleted "+p.key) {
		skipRest("the probe object could not be written and read", rowCond, rowClock)
	} else {
		rep.result(name, rowCond, condErr, "an existing key is refused, by create-only writes and by compare-and-swap (the lease)")
		skew, err := p.clock()
		rep.result(name, rowClock, err, skew)
	}
	found, err := bounded(ctx, opt, func(ctx context.Context) (string, error) { return describeBackup(ctx, st, self) })
	rep.result(name, rowBackup, err, found)
}

// bounded runs f under opt.timeout, and says so when that ran out.
func bounded[T any](ctx context.Context, opt checkOptions, f func(context.Context) (T, error)) (T, error) {
	ctx, cancel := context.WithTimeout(ctx, opt.timeout)
	defer cancel()
	v, err := f(ctx)
	if err != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
		err = fmt.Errorf("no answer within %s (--timeout): %w", opt.timeout, err)
	}
	return v, err
}

// probe is the objects one store's check writes under
// backends.ProbePrefix (which copy skips; all are deleted again), and what the
// store said about them.
type probe struct {
	st           backends.Store
	opt          checkOptions
	key, swapKey string
	body         []byte
	put          time.Time // halfway through the put, on our clock
	stored       time.Time // the object's ModTime, on the store's clock
}

func probeKey() string {
	var r [16]byte
	rand.Read(r[:])
	return backends.ProbePrefix + hex.EncodeToString(r[:])
}

// step runs one call under the timeout and names it in its error.
func (p *probe) step(ctx context.Context, what, key string, f func(ctx context.Context) error) error {
	_, err := bounded(ctx, p.opt, func(ctx context.Context) (struct{}, error) { return struct{}{}, f(ctx) })
	if err != nil {
		return fmt.Errorf("%s %s: %w", what, key, err)
	}
	return nil
}

// run writes the probe object, stats it (the store's clock), reads it
// back, tries to create it again (refused: Store.Put never overwrites),
// creates a second key twice by compare-and-swap (the second refused, as
// the lease needs), and deletes both. It returns the round trip's error
// and the conditional writes' error.
func (p *probe) run(ctx context.Context) (probeErr, condErr error) {
	p.key, p.swapKey = probeKey(), probeKey()
	p.body = fmt.Appendf(nil, "walship check probe %s\n", time.Now().UTC().Format(time.RFC3339Nano))
	defer p.cleanup(ctx)
	if err := p.step(ctx, "put", p.key, func(ctx context.Context) error {
		before := time.Now()
		err := p.st.Put(ctx, p.key, bytes.NewReader(p.body), int64(len(p.body)))
		p.put = before.Add(time.Since(before) / 2)
		return err
	}); err != nil {
		return err, nil
	}
	if err := p.step(ctx, "stat", p.key, p.stat); err != nil {
		return err, nil
	}
	if err := p.step(ctx, "get", p.key, p.get); err != nil {
		return err, nil
	}
	condErr = errors.Join(p.step(ctx, "put again", p.key, p.putAgain), p.step(ctx, "put-if twice", p.swapKey, p.swap))
	if err := p.step(ctx, "delete", p.key, func(ctx context.Context) error { return p.st.Delete(ctx, p.key) }); err != nil {
		return err, condErr
	}
	return p.step(ctx, "stat after delete", p.key, func(ctx context.Context) error {
		_, err := p.st.Stat(ctx, p.key)
		if err == nil {
			return errors.New("the object is still there")
		}
		if backends.IsNotFound(err) {
			return nil
		}
		return err
	}), condErr
}

func (p *probe) stat(ctx context.Context) error {
	oi, err := p.st.Stat(ctx, p.key)
	if err == nil && oi.Size != int64(len(p.body)) {
		err = fmt.Errorf("size %d, want %d", oi.Size, len(p.body))
	}
	p.stored = oi.ModTime
	return err
}

func (p *probe) get(ctx context.Context) error {
	rc, err := p.st.Get(ctx, p.key, 0, -1)
	if err != nil {
		return err
	}
	defer rc.Close()
	got, err := io.ReadAll(io.LimitReader(rc, int64(len(p.body))+1))
	if err == nil && !bytes.Equal(got, p.body) {
		err = fmt.Errorf("read back %d bytes that differ from the %d written", len(got), len(p.body))
	}
	return err
}

func (p *probe) putAgain(ctx context.Context) error {
	err := p.st.Put(ctx, p.key, bytes.NewReader(p.body), int64(len(p.body)))
	switch {
	case err == nil:
		return errors.New("the store overwrote an existing object: walship's objects would not be safe from a second writer")
	case backends.IsExists(err):
		return nil
	}
	return err
}

func (p *probe) swap(ctx context.Context) error {
	sw, ok := backends.AsSwapper(p.st)
	if !ok {
		return backends.Unsupported("put-if", p.st)
	}
	if _, err := sw.PutIf(ctx, p.swapKey, bytes.NewReader(p.body), int64(len(p.body)), ""); err != nil {
		if errors.Is(err, errors.ErrUnsupported) {
			err = fmt.Errorf("%w: the agent would ship without a lease, and nothing would keep a second agent off this prefix", err)
		}
		return err
	}
	_, err := sw.PutIf(ctx, p.swapKey, bytes.NewReader(p.body), int64(len(p.body)), "")
	switch {
	case err == nil:
		return errors.New("a create-only put-if of an existing key succeeded: the lease could not keep two agents apart")
	case backends.IsConflict(err):
		return nil
	}
	return err
}

// cleanup deletes what run wrote, even when ctx is done or a step failed.
func (p *probe) cleanup(ctx context.Context) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), p.opt.timeout)
	defer cancel()
	p.st.Delete(ctx, p.key)
	p.st.Delete(ctx, p.swapKey)
}

// clock compares the store's time for the probe object with ours.
func (p *probe) clock() (string, error) {
	if p.stored.IsZero() {
		return "", errors.New("the store gave the probe object no time: its clock cannot be compared")
	}
	skew := p.stored.Sub(p.put)
	// Stores keep whole seconds: allow one more.
	slack := p.opt.maxSkew + time.Second
	way := "ahead of"
	if skew < 0 {
		way, skew = "behind", -skew
	}
	msg := fmt.Sprintf("the store's clock is %s %s this host's", skew.Round(100*time.Millisecond), way)
	if skew < 50*time.Millisecond {
		msg = "the store's clock agrees with this host's"
	}
	if skew > slack {
		return "", fmt.Errorf("%s (more than --max-skew %s): leases expire and retention windows end by these clocks; fix the time on this host or the store", msg, p.opt.maxSkew)
	}
	return msg + fmt.Sprintf(" (within %s)", p.opt.maxSkew), nil
}
