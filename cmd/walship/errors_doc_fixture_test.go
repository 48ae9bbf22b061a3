package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	mgo "github.com/minio/minio-go/v7"

	"github.com/walship/walship/backends/minio"
	"github.com/walship/walship/backends/storetest"
	"github.com/walship/walship/crypt"
)

// errFixture is what the error scenarios act on: a shipped backup, damaged
// copies of it, config files with one mistake each, and on demand a
// running agent and a MinIO bucket.
type errFixture struct {
	root string
	vars map[string]string
	n    int // $OUT paths handed out
	// stopAgent stops the agent needAgent started, at the end of the
	// parent test (a subtest's cleanup would stop it after one scenario).
	stopAgent func()
}

const errFixtureEntries = 1500

func newErrFixture(t *testing.T) *errFixture {
	t.Helper()
	logs := &syncBuffer{} // what the in-process runs log, not the test's output
	old := logOutput
	logOutput = logs
	t.Cleanup(func() {
		logOutput = old
		if t.Failed() {
			t.Logf("walship logged:\n%s", logs)
		}
	})
	root := t.TempDir()
	store, _ := replicateSome(t, errFixtureEntries)
	f := &errFixture{root: root, vars: map[string]string{
		"ROOT": root, "STORE": store, "STORE_STATE": filepath.Join(filepath.Dir(store), "wal.walship"),
		"WAL": filepath.Join(root, "wal"), "DEAD": freeAddr(t), "HOLE": blackHole(t),
	}}
	t.Cleanup(func() {
		if f.stopAgent != nil {
			f.stopAgent()
		}
	})
	writeLog(t, f.vars["WAL"], 50)
	f.addEncrypted(t)
	if code, _, stderr := walship(t, "mark", store, "kept", "--pin"); code != 0 {
		t.Fatalf("mark: %s", stderr)
	}
	// Damaged copies: a flipped byte in the first segment, a point and a
	// timeline record that do not decode.
	for _, c := range []struct{ name, file string }{{"CORRUPT", "segments"},
		{"BAD_POINT", "points/kept.json"}, {"BAD_TIMELINE", "timelines/00000001.json"}} {
		dir := filepath.Join(root, strings.ToLower(c.name))
		if err := os.CopyFS(dir, os.DirFS(store)); err != nil {
			t.Fatal(err)
		}
		f.vars[c.name] = dir
		if c.file != "segments" {
			f.write(t, filepath.Join(c.name, c.file), "garbage")
			continue
		}
		segs, _ := filepath.Glob(filepath.Join(dir, "segments", "*", "*.wseg"))
		if len(segs) < 2 {
			t.Fatalf("%d segments in the fixture store", len(segs))
		}
		b, _ := os.ReadFile(segs[0])
		b[len(b)/2] ^= 0x10
		if err := os.WriteFile(segs[0], b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	dead := "minio://127.0.0.1:1/bkt2/x?tls=false"
	for rel, content := range map[string]string{
		"empty-store/.keep":        "",
		"nonempty/x":               "not walship's",
		"foreign/wal/mine":         "not walship's",
		"bad-lease/lease.json":     "garbage",
		"damaged-state/state.json": "garbage",
		"unknown.yml":              "source: {wal: /x}\nstores:\n  - {url: file:///tmp/x}\nsael: {size: 1MiB}\n",
		"form.yml":                 "source: {wal: /x}\nstores:\n  - {url: file:///tmp/x}\nseal: {size: big}\n",
		"env.yml":                  "source: {wal: ${WALSHIP_ERRORS_DOC_UNSET}}\n",
		"yaml.yml":                 "source: [\n",
		"empty.yml":                "",
		"nourl.yml":                "source: {wal: /x}\nstores:\n  - {name: a}\n",
		"two.yml":                  fmt.Sprintf("stores:\n  - {name: a, url: %q}\n  - {name: b, url: %q}\n", strings.Replace(dead, "bkt2", "bkt1", 1), dead),
		"one.yml":                  fmt.Sprintf("stores:\n  - {name: a, url: %q}\n  - {name: b, url: %q}\n", store, dead),
	} {
		f.write(t, rel, content)
	}
	f.writeEncryption(t)
	f.write(t, "tok", "a-token-others-may-read-0123456789\n")
	if err := os.Chmod(filepath.Join(root, "tok"), 0o644); err != nil {
		t.Fatal(err)
	}
	f.write(t, "tokmode.yml", fmt.Sprintf("metrics: {addr: %q, token_file: %q}\n", f.vars["DEAD"], filepath.Join(root, "tok")))
	f.addMigrate(t)
	return f
}

// write creates root/rel (and its parents) holding s.
func (f *errFixture) write(t *testing.T, rel, s string) {
	t.Helper()
	p := filepath.Join(f.root, rel)
	if v, ok := f.vars[strings.Split(rel, "/")[0]]; ok {
		p = filepath.Join(v, strings.SplitN(rel, "/", 2)[1])
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}

// expand replaces the fixture's $NAMEs in args, longest name first, and
// $OUT by a path that does not exist yet.
func (f *errFixture) expand(t *testing.T, args string) string {
	t.Helper()
	f.n++
	args = strings.ReplaceAll(args, "$OUT", filepath.Join(f.root, "out", strconv.Itoa(f.n)))
	for strings.Contains(args, "$") {
		before := args
		best := ""
		for k := range f.vars {
			if strings.Contains(args, "$"+k) && len(k) > len(best) {
				best = k
			}
		}
		if best != "" {
			args = strings.ReplaceAll(args, "$"+best, f.vars[best])
		}
		if args == before {
			t.Fatalf("unknown fixture variable in %q", args)
		}
	}
	return args
}

// needMinio makes a bucket on the MinIO of scripts/testenv.sh ($MINIO,
// $BUCKET) and sets its credentials; without it the test is skipped (a
// failure in CI).
func (f *errFixture) needMinio(t *testing.T) {
	t.Helper()
	v := storetest.Env(t, "WALSHIP_TEST_MINIO_ENDPOINT", "WALSHIP_TEST_MINIO_ACCESS_KEY", "WALSHIP_TEST_MINIO_SECRET_KEY")
	t.Setenv("MINIO_ACCESS_KEY", v[1])
	t.Setenv("MINIO_SECRET_KEY", v[2])
	if f.vars["BUCKET"] == "" {
		bucket := storetest.RandomName("walship-errors-")
		mc, err := minio.New(minio.Options{Endpoint: v[0], Bucket: bucket, DisableTLS: true})
		if err != nil {
			t.Fatal(err)
		}
		if err := mc.Client().MakeBucket(context.Background(), bucket, mgo.MakeBucketOptions{}); err != nil {
			t.Fatal(err)
		}
		f.vars["MINIO"], f.vars["BUCKET"] = v[0], bucket
	}
}

// needAgent starts once, for the rest of the test, an agent shipping $WAL
// to $AGENT_STORE with state in $AGENT_STATE, serving on $AGENT_ADDR with
// an admin token, whose snapshot command fails; it returns once the agent
// has shipped the log (so it holds the store's lease).
func (f *errFixture) needAgent(t *testing.T) {
	t.Helper()
	if f.vars["AGENT_ADDR"] != "" {
		return
	}
	addr := freeAddr(t)
	f.vars["AGENT_ADDR"] = addr
	f.vars["AGENT_STATE"] = filepath.Join(f.root, "agent-state")
	f.vars["AGENT_STORE"] = filepath.Join(f.root, "agent-store")
	f.write(t, "agent-token", "the-agents-own-admin-token-0123456789\n")
	f.write(t, "agent.yml", fmt.Sprintf("source: {wal: %q}\nstate: %q\nstores: [{name: local, url: %q}]\n"+
		"metrics: {addr: %q, token_file: %q}\nsnapshot: {command: \"echo checkpoint broken >&2; exit 3\"}\n",
		f.vars["WAL"], f.vars["AGENT_STATE"], "file://"+f.vars["AGENT_STORE"], addr, filepath.Join(f.root, "agent-token")))
	cmd := exec.Command(walshipBin(t), "replicate", "--config", filepath.Join(f.root, "agent.yml"))
	logs := &syncBuffer{}
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	f.stopAgent = func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	}
	deadline := time.Now().Add(30 * time.Second)
	for shipped(f.vars["AGENT_STATE"]) < 50 {
		if time.Now().After(deadline) {
			t.Fatalf("the agent did not ship 50 entries in 30s:\n%s", logs)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// writeEncryption writes configs with one encryption mistake each.
func (f *errFixture) writeEncryption(t *testing.T) {
	t.Helper()
	keys := make([]string, 17)
	var secret string
	for i := range keys {
		id, err := crypt.GenerateIdentity()
		if err != nil {
			t.Fatal(err)
		}
		r, _ := id.Recipient()
		keys[i], secret = r.Text(), id.SecretText()
	}
	f.write(t, "secret.txt", "# pasted by mistake\n"+secret+"\n")
	store := "source: {wal: /x}\nstores:\n  - {url: file:///tmp/x"
	for rel, content := range map[string]string{
		"secret.yml":      fmt.Sprintf("%s}\nencryption: {recipients: [%s, %s]}\n", store, keys[0], secret),
		"compactid.yml":   fmt.Sprintf("%s}\ncompaction: {identity_file: %s}\n", store, filepath.Join(f.root, "id-loose")),
		"secretfile.yml":  fmt.Sprintf("%s}\nencryption: {recipients_file: %s}\n", store, filepath.Join(f.root, "secret.txt")),
		"secretform.yml":  fmt.Sprintf("%s}\nencryption: {recipients: %s}\n", store, secret),
		"badrcpt.yml":     fmt.Sprintf("%s}\nencryption: {recipients: [%s, ssh-ed25519 AAAAC3Nza]}\n", store, keys[0]),
		"norcpt.yml":      store + ", encryption: {recipients: []}}\n",
		"rcptfile.yml":    fmt.Sprintf("%s}\nencryption: {recipients_file: %s}\n", store, filepath.Join(f.root, "no-such-recipients")),
		"encrypttrue.yml": store + ", encrypt: true}\n",
		"encryptboth.yml": fmt.Sprintf("%s, encrypt: false, encryption: {recipients: [%s]}}\n", store, keys[0]),
		"manyrcpt.yml":    fmt.Sprintf("%s}\nencryption: {recipients: [%s]}\n", store, strings.Join(keys, ", ")),
	} {
		f.write(t, rel, content)
	}
}
