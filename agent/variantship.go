package agent

import (
	"errors"
	"fmt"
	"os"
)

// sealedVariant is a variant written by a seal worker, not yet committed.
type sealedVariant struct {
	set  string
	tmp  string
	size int64
}

// writeVariants encrypts the freshly written plain segment at plain once
// per recipient set (a worker's part, after the plain file is fsynced).
// On failure nothing of them is left.
func (a *Agent) writeVariants(plain string) ([]sealedVariant, error) {
	var out []sealedVariant
	for _, set := range a.sets {
		tmp, size, err := a.spool.writeVariant(set, plain)
		if err != nil {
			discardVariants(out)
			return nil, err
		}
		out = append(out, sealedVariant{set: set.id, tmp: tmp, size: size})
	}
	return out, nil
}

func discardVariants(vs []sealedVariant) {
	for _, v := range vs {
		os.Remove(v.tmp)
	}
}

// commitVariants renames a segment's variants into place (the committer's
// part, before the plain file: an item the spool names has its variants).
// On failure the ones committed are removed again.
func (a *Agent) commitVariants(vs []sealedVariant, item string) (map[string]int64, error) {
	if len(vs) == 0 {
		return nil, nil
	}
	sizes := map[string]int64{}
	for i, v := range vs {
		if err := a.spool.commitVariant(v.set, v.tmp, item); err != nil {
			discardVariants(vs[i+1:])
			a.removeVariants(item, sizes)
			return nil, err
		}
		sizes[v.set] = v.size
	}
	return sizes, nil
}

func (a *Agent) removeVariants(item string, sizes map[string]int64) {
	for set := range sizes {
		os.Remove(a.spool.variantPath(set, item))
	}
}

// errItemGone: a spool item was dropped (every store has it, or the spool
// bound) while a variant of it was being made.
var errItemGone = errors.New("spool item dropped meanwhile")

// uploadPath is the spool file the shipper uploads for item: the plain
// segment for a plain store, else its set's variant, made from the plain
// segment first if it is missing (a crash, or a recipient set new since
// the item was sealed).
func (s *shipper) uploadPath(item string) (string, error) {
	if s.set == nil {
		return s.a.spool.path(item), nil
	}
	a, id := s.a, s.set.id
	a.variantMu.Lock()
	defer a.variantMu.Unlock()
	a.mu.Lock()
	ii, ok := a.info[item]
	_, have := ii.variants[id]
	a.mu.Unlock()
	if !ok {
		return "", fmt.Errorf("spool %s: %w", item, errItemGone)
	}
	path := a.spool.variantPath(id, item)
	if have {
		return path, nil
	}
	tmp, size, err := a.spool.writeVariant(s.set, a.spool.path(item))
	if err != nil {
		return "", err
	}
	if err := a.spool.commitVariant(id, tmp, item); err != nil {
		return "", err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	ii, ok = a.info[item]
	if !ok { // gc ran meanwhile: it could not see this file
		os.Remove(path)
		return "", fmt.Errorf("spool %s: %w", item, errItemGone)
	}
	if ii.variants == nil {
		ii.variants = map[string]int64{}
	}
	ii.variants[id] = size
	a.info[item] = ii
	a.log.Info("encrypted copy of a spooled segment made again from the plain segment", "store", s.store.Name, "item", item, "set", id)
	return path, nil
}

// gcVariantsLocked removes the variants every store of their set has.
// Called with a.mu held.
func (a *Agent) gcVariantsLocked() {
	for _, set := range a.sets {
		done := ""
		first := true
		for i, s := range a.opt.Stores {
			if a.byStore[i] != set {
				continue
			}
			if c := a.gcCursor(s.Store.String()); first || c < done {
				done, first = c, false
			}
		}
		for _, it := range a.items {
			if it > done {
				break
			}
			ii := a.info[it]
			if _, ok := ii.variants[set.id]; !ok {
				continue
			}
			if err := os.Remove(a.spool.variantPath(set.id, it)); err != nil && !os.IsNotExist(err) {
				a.log.Warn("spool cleanup failed", "item", it, "set", set.id, "err", err)
				return
			}
			delete(ii.variants, set.id)
			select {
			case a.spoolFreed <- struct{}{}:
			default:
			}
		}
	}
}

// bytes is what an item holds in the spool: its plain segment and its
// variants.
func (ii itemInfo) bytes() int64 {
	n := ii.size
	for _, v := range ii.variants {
		n += v
	}
	return n
}
