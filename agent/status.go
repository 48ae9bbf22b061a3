package agent

import "time"

// Status is a snapshot of the agent's progress.
type Status struct {
	Timeline uint32 `json:"timeline"`
	Tailed   uint64 `json:"tailed"` // last entry read from the source
	Sealed   uint64 `json:"sealed"` // last entry durable in the spool
	// SourceError says why the source cannot be read (a damaged entry,
	// named by file and byte offset), or is empty.
	SourceError string `json:"source_error,omitempty"`
	// SealError says why sealing is paused (the state dir is full: its
	// entries wait in the source, sealing is retried), or is empty.
	SealError string `json:"seal_error,omitempty"`
	// StateError says why state.json lags what the agent did (the state
	// dir is full: it is saved when space returns), or is empty.
	StateError string        `json:"state_error,omitempty"`
	Spooled    int           `json:"spooled"`     // sealed segments not yet in every store
	SpoolBytes int64         `json:"spool_bytes"` // their bytes
	Stores     []StoreStatus `json:"stores"`
}

// StoreStatus is one store's progress.
type StoreStatus struct {
	Name       string  `json:"name"`
	Timeline   uint32  `json:"timeline"`    // timeline of the newest segment shipped
	Shipped    uint64  `json:"shipped"`     // last entry of the newest segment shipped and verified
	LagEntries uint64  `json:"lag_entries"` // entries read from the source, not yet verified here
	LagSeconds float64 `json:"lag_seconds"` // age of the oldest of them
	Degraded   bool    `json:"degraded"`    // past the retry bound, being reconciled
	Encrypted  bool    `json:"encrypted"`   // gets its segments encrypted (format v2)
	Gaps       []Gap   `json:"gaps,omitempty"`
}

// Gap is a run of segments a store never received because it was down
// while the spool reached its bound.
type Gap struct {
	Timeline uint32 `json:"timeline"`
	From     uint64 `json:"from"`
	To       uint64 `json:"to"`
}

// Status reports progress; safe to call while Run runs.
func (a *Agent) Status() Status {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := time.Now()
	s := Status{Spooled: len(a.items), Tailed: a.tailed.Load(), SourceError: a.sourceErr.get(),
		SealError: a.sealErr.get(), StateError: a.stateErr.get()}
	for _, it := range a.items {
		s.SpoolBytes += a.info[it].bytes()
	}
	if a.st != nil {
		s.Timeline = a.st.current().ID
		s.Sealed = a.st.Sealed.Index
		s.Tailed = max(s.Tailed, s.Sealed)
	}
	for i, st := range a.opt.Stores {
		ss := StoreStatus{Name: st.Name, Encrypted: len(st.Recipients) > 0}
		id := st.Store.String()
		var cursor string
		if a.st != nil {
			cursor = a.st.Cursors[id]
			if n, err := parseItem(cursor); err == nil {
				ss.Timeline, ss.Shipped = n.Timeline, n.Last
			}
			ss.Gaps = append(ss.Gaps, a.st.Gaps[id]...)
		}
		// Lag: what was read but is not verified in this store starts at its
		// first pending spool item, else at the open segment.
		var oldest time.Time
		for _, it := range a.items {
			if it > cursor {
				if n, err := parseItem(it); err == nil {
					ss.LagEntries = s.Tailed - min(s.Tailed, n.First-1)
				}
				oldest = a.info[it].firstRead
				break
			}
		}
		if oldest.IsZero() && s.Tailed > s.Sealed {
			ss.LagEntries, oldest = s.Tailed-s.Sealed, a.openFirst
			if len(a.inflight) > 0 {
				oldest = a.inflight[0]
			}
			if oldest.IsZero() { // sealing paused: what it read waits in the source
				oldest = a.unsealedSince
			}
		}
		if !oldest.IsZero() && ss.LagEntries > 0 {
			ss.LagSeconds = now.Sub(oldest).Seconds()
		}
		if i < len(a.shippers) {
			ss.Degraded = a.shippers[i].degraded.Load()
		}
		s.Stores = append(s.Stores, ss)
	}
	return s
}
