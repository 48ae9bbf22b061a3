package minio

import (
	"context"

	"github.com/walship/walship/backends/internal/objio"
)

// SkipStat makes Put trust the server's If-None-Match without probing or
// asking first, so a test sees the server's own answer.
func SkipStat(s *Store) { s.cond.Set(objio.CondHonoured) }

// Cond probes (if not known yet) and returns what the server does with
// If-None-Match.
func Cond(s *Store) objio.CondMode {
	return s.cond.Mode(context.Background(), s.String(), s.condOps())
}
