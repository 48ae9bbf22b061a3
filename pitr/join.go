package pitr

import (
	"context"
	"fmt"

	"github.com/walship/walship/backends"
)

// joinListings walks two stores' listings side by side, in key order, and
// calls fn for every key of a's with whether b holds it too (and b's size),
// and onlyB, if not nil, for every key only b holds. Each store is listed
// once, by a goroutine of its own feeding a short queue: neither listing is
// held, so memory stays flat whatever the number of objects. A listing out
// of key order (a store breaking the List contract) is an error.
func joinListings(parent context.Context, a, b backends.Store, fn func(oi backends.ObjectInfo, bSize int64, inB bool) error, onlyB func(backends.ObjectInfo)) error {
	ctx, cancel := context.WithCancel(parent)
	defer cancel()
	as, aErr := streamList(ctx, a)
	bs, bErr := streamList(ctx, b)
	// next takes a listing's next key. A listing that failed fails the
	// walk at once: b's end must not read as "b holds none of the rest".
	next := func(ch <-chan backends.ObjectInfo, prev string, st backends.Store, lerr func() error) (backends.ObjectInfo, bool, error) {
		oi, ok := <-ch
		switch {
		case !ok:
			if err := lerr(); err != nil {
				return oi, false, fmt.Errorf("list %s: %w", st, err)
			}
		case oi.Key <= prev && prev != "":
			return oi, false, fmt.Errorf("%w: %s listed %s after %s", errListOrder, st, oi.Key, prev)
		}
		return oi, ok, nil
	}
	seenB := func(oi backends.ObjectInfo) {
		if onlyB != nil {
			onlyB(oi)
		}
	}
	bi, bOK, err := next(bs, "", b, bErr)
	prevA := ""
	for err == nil {
		var ai backends.ObjectInfo
		var aOK bool
		if ai, aOK, err = next(as, prevA, a, aErr); err != nil || !aOK {
			break
		}
		prevA = ai.Key
		for bOK && bi.Key < ai.Key {
			seenB(bi)
			if bi, bOK, err = next(bs, bi.Key, b, bErr); err != nil {
				break
			}
		}
		if err != nil {
			break
		}
		inB := bOK && bi.Key == ai.Key
		size := int64(0)
		if inB {
			size = bi.Size
		}
		if err = fn(ai, size, inB); err == nil && inB {
			bi, bOK, err = next(bs, bi.Key, b, bErr)
		}
	}
	for err == nil && bOK && onlyB != nil { // the rest of b, past a's end
		onlyB(bi)
		bi, bOK, err = next(bs, bi.Key, b, bErr)
	}
	cancel() // b's listing stops where a's ended (its error then is ours)
	for range as {
	}
	for range bs {
	}
	if err == nil {
		err = parent.Err()
	}
	return err
}

// streamList lists st into a channel, closed at the end; the function
// returns the listing's error, to be called once the channel is closed.
func streamList(ctx context.Context, st backends.Store) (<-chan backends.ObjectInfo, func() error) {
	ch := make(chan backends.ObjectInfo, 256)
	var err error
	go func() {
		defer close(ch)
		err = st.List(ctx, "", "", func(oi backends.ObjectInfo) error {
			select {
			case ch <- oi:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
	}()
	return ch, func() error { return err }
}
