package faultcheck

import "testing"

// The healthy store's lag counts while a remote fault lasts, not while the
// state dir is full, and not for the backlog a full state dir leaves until
// the healthy store has caught up with it.
func TestStalenessAfterLocalFault(t *testing.T) {
	s := newStaleness(3.25)
	s.agentStarted()
	s.setFaulted(1)
	s.sample("status", 0, "a") // caught up since the start
	s.sample("status", 1, "b")
	s.setLocal(1)
	s.sample("status", 9, "full") // the state dir full: not counted
	s.setLocal(-1)
	s.sample("status", 5, "freed") // the backlog the full state dir left
	if worst, at, _ := s.result(); worst != 1 || at != "status b" {
		t.Fatalf("worst lag %.2f at %s, want 1 at b: a local fault's backlog was blamed", worst, at)
	}
	s.sample("status", 0, "c") // caught up with it
	s.sample("status", 4, "d")
	if worst, at, _ := s.result(); worst != 4 || at != "status d" {
		t.Fatalf("worst lag %.2f at %s, want 4 at d", worst, at)
	}
}
