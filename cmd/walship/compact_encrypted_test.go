package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/walship/walship/config"
	"github.com/walship/walship/segments"
)

// TestCompactEncryptedCLI: an operator compacts an encrypted store with an
// identity and the store's recipients: timeline 1's three encrypted
// segments (one minute) become one sealed to the recipients given, the
// inputs are deleted after the comparison, and the store restores to the
// same log as before. Without --encrypt-to nothing encrypted is merged;
// recipients without an identity for them are refused.
func TestCompactEncryptedCLI(t *testing.T) {
	st := copyStore(t, goldenEncrypted)
	keyA, idsA := keyFile(t, goldenIDA, 0o600)
	third, _ := thirdKey(t)
	rcpt, _ := idsA[0].Recipient()
	rfile := filepath.Join(t.TempDir(), "recipients")
	if err := os.WriteFile(rfile, []byte(rcpt.Text()+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ref := filepath.Join(t.TempDir(), "ref")
	if code, _, stderr := walship(t, "restore", copyStore(t, goldenPlain), ref); code != 0 {
		t.Fatalf("restore of the plain golden store: %d %s", code, stderr)
	}
	segs := func() int {
		m, _ := filepath.Glob(filepath.Join(st, "segments", "*", "*.wseg"))
		return len(m)
	}

	code, stdout, stderr := walship(t, "compact", st, "--grace", "0", "--identity", keyA)
	if code != 0 || !strings.Contains(stdout, "merged 0 segment(s)") || segs() != 4 {
		t.Fatalf("identity alone: %d %d segments\n%s%s", code, segs(), stdout, stderr)
	}
	code, _, stderr = walship(t, "compact", st, "--grace", "0", "--identity", third, "--encrypt-to", rfile)
	if code != 2 || !strings.Contains(stderr, "needs an identity") {
		t.Fatalf("recipients without their identity: %d %s", code, stderr)
	}
	code, stdout, stderr = walship(t, "compact", st, "--grace", "0", "--identity", keyA, "--encrypt-to", rfile)
	if code != 0 || !strings.Contains(stdout, "merged 3 segment(s) into 1") || segs() != 2 {
		t.Fatalf("compact: %d, %d segments\n%s%s", code, segs(), stdout, stderr)
	}
	out := filepath.Join(t.TempDir(), "out")
	if code, _, stderr := walship(t, "restore", st, out, "--identity", keyA); code != 0 {
		t.Fatalf("restore after compaction: %d %s", code, stderr)
	}
	sameLog(t, filepath.Join(ref, "wal"), filepath.Join(out, "wal"))
	if code, stdout, _ := walship(t, "verify", st, "--identity", keyA); code != 0 || strings.Contains(stdout, "checked as stored") {
		t.Fatalf("verify after compaction: %d\n%s", code, stdout)
	}
}

// compaction.identity_file gives the agent's compaction its identities; a
// file others can read, or one that is missing, is a usage error naming
// the setting and the file, never the key; with compaction off it is not
// read.
func TestAgentCompactionIdentityFile(t *testing.T) {
	cfg := &config.Config{}
	if o, err := agentCompaction(cfg, segments.CodecZstd); err != nil || o.Interval != time.Minute || o.Identities != nil {
		t.Fatalf("defaults: %+v %v", o, err)
	}
	key, ids := keyFile(t, goldenIDA, 0o600)
	cfg.Compaction.IdentityFile = key
	o, err := agentCompaction(cfg, segments.CodecZstd)
	if err != nil || len(o.Identities) != len(ids) || o.Identities[0].Fingerprint() != ids[0].Fingerprint() {
		t.Fatalf("identity file: %+v %v", o.Identities, err)
	}
	secret, _ := os.ReadFile(key)
	usage := func(what string, want ...string) {
		t.Helper()
		_, err := agentCompaction(cfg, segments.CodecZstd)
		var ec exitCode
		if err == nil || !errors.As(err, &ec) || ec.code != 2 {
			t.Fatalf("%s: %v, want a usage error", what, err)
		}
		for _, w := range append(want, "compaction.identity_file") {
			if !strings.Contains(err.Error(), w) {
				t.Fatalf("%s: %q does not say %q", what, err, w)
			}
		}
		if strings.Contains(err.Error(), strings.TrimSpace(string(secret))) || strings.Contains(err.Error(), "AGE-SECRET-KEY") {
			t.Fatalf("%s: the error shows the key: %v", what, err)
		}
	}
	os.Chmod(key, 0o644)
	usage("a file others can read", "has mode 0644", "chmod 600 "+key)
	os.Remove(key)
	usage("a missing file", key)
	off := false
	cfg.Compaction.Enabled = &off
	if o, err := agentCompaction(cfg, segments.CodecZstd); err != nil || o.Interval != 0 {
		t.Fatalf("compaction off: %+v %v", o, err)
	}
}
