package s3

import (
	"context"

	"github.com/walship/walship/backends/internal/objio"
)

// SkipHead makes Put trust the server's If-None-Match without probing or
// asking first, so a test sees the server's own answer.
func SkipHead(s *Store) { s.cond.Set(objio.CondHonoured) }

// SetCond fixes what Put believes the server does with If-None-Match.
func SetCond(s *Store, m objio.CondMode) { s.cond.Set(m) }

// Cond probes (if not known yet) and returns what the server does with
// If-None-Match.
func Cond(s *Store) objio.CondMode {
	return s.cond.Mode(context.Background(), s.String(), s.condOps())
}

// PutInput exposes the PutObject input a Put would send.
var PutInput = (*Store).putInput

// DigestMD5 reports whether single-request uploads carry a Content-MD5
// (the server did not confirm a CRC32C).
func DigestMD5(s *Store) bool { return s.digest.MD5() }

// UseMD5 makes single-request uploads carry a Content-MD5.
func UseMD5(s *Store) { s.digest.SetMD5() }
