package agent

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/walship/walship/segments"
	"github.com/walship/walship/wal"
)

// stateVersion is the version of state.json this agent writes.
const stateVersion = 1

// Position is an entry in the sealed history.
type Position struct {
	Index uint64 `json:"index"`
	// CRC is the CRC32C of the entry's data. HasCRC is false when the
	// position was not read from the log (the start of a timeline after a
	// gap: the entry before it is unknown).
	CRC    uint32 `json:"crc32c"`
	HasCRC bool   `json:"has_crc"`
}

// state is what the agent persists in STATE/state.json:
//
//	{"version":1,"source":"/abs/wal","format":1,
//	 "timelines":[{timeline record}...],            // every timeline, current last
//	 "sealed":{"index":N,"crc32c":C,"has_crc":true}, // last entry durable in the spool
//	 "sealed_item":"spool item name",               // the newest sealed segment
//	 "cursors":{"file:///b":"spool item name"},     // per store: newest item shipped and verified
//	 "shipped":{"file:///b":{"index":N}},            // per store: its last entry (for status)
//	 "gaps":{"s3://x":[{"timeline":1,"from":A,"to":B}]}, // per store: segments dropped while it was down
//	 "gapped":{"s3://x":true}}                       // per store: new timeline due when it is back
type state struct {
	Version    int                 `json:"version"`
	Source     string              `json:"source"`
	Format     wal.Format          `json:"format"`
	Timelines  []segments.Timeline `json:"timelines"`
	Sealed     Position            `json:"sealed"`
	SealedItem string              `json:"sealed_item"`
	Cursors    map[string]string   `json:"cursors"`
	Shipped    map[string]Position `json:"shipped"`          // per store: last entry shipped (for status)
	Gaps       map[string][]Gap    `json:"gaps,omitempty"`   // per store: segments it never received
	Gapped     map[string]bool     `json:"gapped,omitempty"` // per store: a gap awaits its new timeline
	// TimelineDue: a store came back after a gap, so a new timeline starts
	// before the next segment is sealed (the reason); kept across restarts.
	TimelineDue string `json:"timeline_due,omitempty"`
	// BaseDue: a timeline started after a gap wants a base snapshot.
	BaseDue bool `json:"base_due,omitempty"`
}

func (s *state) current() segments.Timeline { return s.Timelines[len(s.Timelines)-1] }

func (s *state) timeline(id uint32) (segments.Timeline, bool) {
	for _, t := range s.Timelines {
		if t.ID == id {
			return t, true
		}
	}
	return segments.Timeline{}, false
}

// chain returns the timeline id and its ancestors, child first.
func (s *state) chain(id uint32) []segments.Timeline {
	var out []segments.Timeline
	for id != 0 {
		t, ok := s.timeline(id)
		if !ok {
			break
		}
		out = append(out, t)
		id = t.Parent
	}
	return out
}

// startOver is the advice for a state that cannot be used: a new state
// proves only what it seals itself, so it needs an empty state dir and a
// store prefix of its own (the old prefix keeps what was shipped, and a
// fresh agent refuses to write into it).
func startOver(dir string) string {
	return fmt.Sprintf("move the whole state dir %s away (keep it: its spool may hold entries no store has), "+
		"then start with an empty --state and a fresh store prefix; the old prefix stays restorable", dir)
}

func statePath(dir string) string { return filepath.Join(dir, "state.json") }

// loadState reads dir/state.json; ok is false when there is none yet. A
// state file an older walship left readable by others is made owner-only.
func loadState(dir string, log *slog.Logger) (st *state, ok bool, err error) {
	b, err := os.ReadFile(statePath(dir))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("read state: %w", err)
	}
	if err := ownerOnly(statePath(dir), stateFilePerm, log); err != nil {
		return nil, false, err
	}
	st = new(state)
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(st); err != nil {
		return nil, false, fmt.Errorf("state file %s is damaged (%v); %s", statePath(dir), err, startOver(dir))
	}
	if st.Version != stateVersion {
		return nil, false, fmt.Errorf("state file %s has version %d, this walship reads %d", statePath(dir), st.Version, stateVersion)
	}
	if len(st.Timelines) == 0 {
		return nil, false, fmt.Errorf("state file %s has no timeline; %s", statePath(dir), startOver(dir))
	}
	if st.Cursors == nil {
		st.Cursors = map[string]string{}
	}
	if st.Shipped == nil {
		st.Shipped = map[string]Position{}
	}
	if st.Gaps == nil {
		st.Gaps = map[string][]Gap{}
	}
	if st.Gapped == nil {
		st.Gapped = map[string]bool{}
	}
	if st.Gaps == nil {
		st.Gaps = map[string][]Gap{}
	}
	if st.Gapped == nil {
		st.Gapped = map[string]bool{}
	}
	return st, true, nil
}

func (s *state) save(dir string) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("encode state: %w", err)
	}
	return writeFileAtomic(statePath(dir), append(b, '\n'))
}
