package agent

// enforceSpoolBound keeps the spool under SpoolMaxBytes. Only a store that
// is behind can make the spool grow (every store has the newest items
// pending at most briefly), so the oldest items go first: each store still
// missing one gets a recorded gap instead, its cursor moves past it, and
// when the store ships again a new timeline starts (see shipper.shipped).
// The source is never blocked and nothing is reported shipped that is not.
// Called with a.mu held.
func (a *Agent) enforceSpoolBound() error {
	total := int64(0)
	for _, it := range a.items {
		total += a.info[it].size
	}
	changed := false
	for total > a.opt.SpoolMaxBytes && len(a.items) > 1 {
		oldest := a.items[0]
		n, err := parseItem(oldest)
		if err != nil {
			return err
		}
		for _, s := range a.opt.Stores {
			id := s.Store.String()
			if a.st.Cursors[id] >= oldest {
				continue
			}
			a.st.Cursors[id] = oldest
			gaps := a.st.Gaps[id]
			if k := len(gaps) - 1; k >= 0 && gaps[k].Timeline == n.Timeline && gaps[k].To+1 == n.First {
				gaps[k].To = n.Last
			} else {
				gaps = append(gaps, Gap{Timeline: n.Timeline, From: n.First, To: n.Last})
			}
			a.st.Gaps[id] = gaps
			a.st.Gapped[id] = true
			a.metrics.gaps.WithLabelValues(s.Name).Inc()
			a.log.Error("spool bound reached: segment dropped for a store that is behind; it will have a gap",
				"store", s.Name, "timeline", n.Timeline, "from", n.First, "to", n.Last, "spool_bytes", total, "bound", a.opt.SpoolMaxBytes)
			changed = true
		}
		total -= a.info[oldest].size
		if !changed {
			break // nobody needs it, gc below removes it
		}
		if err := a.saveState(); err != nil {
			return err
		}
		a.gcSpoolLocked()
		if len(a.items) > 0 && a.items[0] == oldest {
			break // could not remove it; try again next seal
		}
	}
	return nil
}
