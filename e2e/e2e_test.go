package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	mgo "github.com/minio/minio-go/v7"

	"github.com/walship/walship/backends/s3"
	"github.com/walship/walship/backends/storetest"
)

// target is one way of reaching a real store.
type target struct {
	name string
	// url is the store URL a user would type; config, when set, is a YAML
	// file used through --config instead (env holds its ${VAR}s).
	url    string
	config string
	env    []string
	// state is the agent's state dir (the config names it too).
	state string
	// del removes an object (key relative to the store's prefix) with the
	// service's own SDK, behind walship's back.
	del func(t *testing.T, key string)
}

// storeArgs are the arguments that name the store for restore, list and
// verify.
func (tg target) storeArgs() []string {
	if tg.config != "" {
		return []string{"--config", tg.config}
	}
	return []string{tg.url}
}

func s3Target(t *testing.T, root string) target {
	srv := minioEnv(t)
	prefix := storetest.RandomName("s3-")
	st, err := s3.New(context.Background(), s3.Options{Bucket: srv.bucket, Endpoint: "http://" + srv.endpoint,
		Credentials: credentials.NewStaticCredentialsProvider(srv.access, srv.secret, "")})
	if err != nil {
		t.Fatal(err)
	}
	return target{
		name:  "s3",
		url:   fmt.Sprintf("s3://%s/%s?endpoint=http://%s&region=us-east-1", srv.bucket, prefix, srv.endpoint),
		state: filepath.Join(root, "state"),
		del: func(t *testing.T, key string) {
			_, err := st.Client().DeleteObject(context.Background(), &awss3.DeleteObjectInput{
				Bucket: aws.String(srv.bucket), Key: aws.String(prefix + "/" + key)})
			if err != nil {
				t.Fatalf("delete %s with aws-sdk-go-v2: %v", key, err)
			}
		},
	}
}

func minioTarget(t *testing.T, root string) target {
	srv := minioEnv(t)
	prefix := storetest.RandomName("minio-")
	return target{
		name:  "minio",
		url:   fmt.Sprintf("minio://%s/%s/%s?tls=false", srv.endpoint, srv.bucket, prefix),
		state: filepath.Join(root, "state"),
		del: func(t *testing.T, key string) {
			if err := srv.client.RemoveObject(context.Background(), srv.bucket, prefix+"/"+key, mgo.RemoveObjectOptions{}); err != nil {
				t.Fatalf("delete %s with minio-go: %v", key, err)
			}
		},
	}
}

func azureTarget(t *testing.T, root string) target {
	srv := azuriteEnv(t)
	prefix := storetest.RandomName("az-")
	return target{
		name:  "azblob",
		url:   fmt.Sprintf("azblob://%s/%s", srv.container, prefix),
		state: filepath.Join(root, "state"),
		del: func(t *testing.T, key string) {
			if _, err := srv.client.NewBlobClient(prefix+"/"+key).Delete(context.Background(), nil); err != nil {
				t.Fatalf("delete %s with azblob: %v", key, err)
			}
		},
	}
}

// configTarget is MinIO through the s3 client, named only in a YAML
// config whose ${VAR}s the command expands from its environment.
func configTarget(t *testing.T, root string) target {
	tg := s3Target(t, root)
	srv := minioEnv(t)
	u := strings.TrimPrefix(tg.url, "s3://"+srv.bucket+"/")
	prefix, _, _ := strings.Cut(u, "?")
	cfg := filepath.Join(root, "walship.yml")
	yml := `# walship e2e: every path and the store come from the environment
source:
  wal: ${E2E_WAL}
  format: binary
state: ${E2E_STATE}
seal: {size: 16KiB, interval: 50ms}
compression: zstd
stores:
  - name: minio-s3
    url: "s3://${E2E_BUCKET}/${E2E_PREFIX}?endpoint=http://${WALSHIP_TEST_MINIO_ENDPOINT}&region=us-east-1"
`
	if err := os.WriteFile(cfg, []byte(yml), 0o644); err != nil {
		t.Fatal(err)
	}
	tg.name = "config"
	tg.config = cfg
	tg.env = []string{"E2E_WAL=" + filepath.Join(root, "wal"), "E2E_STATE=" + tg.state,
		"E2E_BUCKET=" + srv.bucket, "E2E_PREFIX=" + prefix}
	return tg
}

// TestReplicateRestore ships a log written by a steady writer to each real
// store with `walship replicate` (stopped by SIGTERM), restores it with
// `walship restore` and compares every entry; `verify` and `list` must
// agree. Then a segment is deleted with the service's SDK: `restore` must
// refuse (exit 1) naming the missing entries and leave no OUT/wal, and
// `verify` must exit 3 naming them.
func TestReplicateRestore(t *testing.T) {
	targets := []struct {
		name string
		make func(*testing.T, string) target
		seed int64
	}{
		{"s3", s3Target, 1},
		{"minio", minioTarget, 2},
		{"azblob", azureTarget, 3},
		{"config", configTarget, 4},
	}
	for _, tc := range targets {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			root := t.TempDir()
			tg := tc.make(t, root)
			walshipBin(t)
			replicateRestore(t, tg, root, tc.seed)
		})
	}
}

func replicateRestore(t *testing.T, tg target, root string, seed int64) {
	start := time.Now()
	walDir := filepath.Join(root, "wal")
	w := startWriter(t, walDir, seed, 500*time.Microsecond)
	for w.Count() < 20 {
		time.Sleep(time.Millisecond)
	}
	args := []string{walDir, tg.url, "--state", tg.state, "--seal-size", "16KiB", "--seal-interval", "50ms"}
	if tg.config != "" {
		args = []string{"--config", tg.config}
	}
	a := startAgent(t, tg.env, args...)

	// The agent ships while the writer keeps writing.
	a.waitShipped(t, tg.state, 1, 20*time.Second)
	time.Sleep(time.Until(start.Add(1500 * time.Millisecond)))
	during := shipped(tg.state)
	want := w.Halt(t)
	a.waitShipped(t, tg.state, uint64(len(want)), 30*time.Second)
	if code := a.term(t); code != 0 {
		t.Fatalf("replicate stopped by SIGTERM: exit %d\n%s", code, a.stderr)
	}
	if strings.Contains(a.stderr.String(), "level=ERROR") {
		t.Fatalf("replicate logged errors:\n%s", a.stderr)
	}
	t.Logf("%s: %d entries written, %d shipped while writing, all shipped after %v",
		tg.name, len(want), during, time.Since(start).Round(time.Millisecond))

	out := filepath.Join(root, "out")
	r := walship(t, tg.env, append(append([]string{"restore"}, tg.storeArgs()...), out)...)
	if r.code != 0 {
		t.Fatalf("restore: %s", r)
	}
	compareRestored(t, filepath.Join(out, "wal"), want)

	if r := walship(t, tg.env, append([]string{"verify"}, tg.storeArgs()...)...); r.code != 0 || !strings.Contains(r.stdout, "OK") {
		t.Fatalf("verify: %s", r)
	}
	r = walship(t, tg.env, append(append([]string{"list"}, tg.storeArgs()...), "timelines")...)
	if r.code != 0 || !strings.Contains(r.stdout, "TIMELINE") {
		t.Fatalf("list timelines: %s", r)
	}
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 2 || strings.Fields(lines[1])[0] != "1" {
		t.Fatalf("list timelines: want the header and timeline 1 only:\n%s", r.stdout)
	}

	// The segment listing covers 1..N exactly, in order.
	r = walship(t, tg.env, append(append([]string{"list"}, tg.storeArgs()...), "segments", "--json")...)
	if r.code != 0 {
		t.Fatalf("list segments: %s", r)
	}
	var segs []segment
	if err := json.Unmarshal([]byte(r.stdout), &segs); err != nil {
		t.Fatalf("list segments --json: %v\n%s", err, r.stdout)
	}
	next := uint64(1)
	for _, s := range segs {
		if s.Name.Timeline != 1 || s.Name.First != next || s.Name.Last < s.Name.First || s.Size <= 0 {
			t.Fatalf("segment %+v does not continue at entry %d", s, next)
		}
		next = s.Name.Last + 1
	}
	if next != uint64(len(want))+1 || len(segs) < 3 {
		t.Fatalf("%d segments cover 1..%d, source 1..%d", len(segs), next-1, len(want))
	}

	// A segment deleted behind the agent's back.
	victim := segs[len(segs)/2]
	tg.del(t, victim.Key)
	missing := fmt.Sprintf("entries %d..%d", victim.Name.First, victim.Name.Last)
	bad := filepath.Join(root, "bad")
	r = walship(t, tg.env, append(append([]string{"restore"}, tg.storeArgs()...), bad)...)
	if r.code != 1 || !strings.Contains(r.stderr, missing) {
		t.Fatalf("restore with %s deleted: want exit 1 naming %s; %s", victim.Key, missing, r)
	}
	if _, err := os.Stat(filepath.Join(bad, "wal")); !os.IsNotExist(err) {
		t.Fatalf("a failed restore left %s/wal behind (%v)", bad, err)
	}
	t.Logf("%s: deleted %s; restore exit %d: %s", tg.name, victim.Key, r.code, strings.TrimSpace(r.stderr))
	r = walship(t, tg.env, append([]string{"verify"}, tg.storeArgs()...)...)
	if r.code != 3 || !strings.Contains(r.stdout, missing) {
		t.Fatalf("verify with %s deleted: want exit 3 naming %s; %s", victim.Key, missing, r)
	}
	for _, l := range strings.Split(r.stdout, "\n") {
		if strings.Contains(l, missing) {
			t.Logf("%s: verify exit %d: %s", tg.name, r.code, l)
		}
	}
}

// TestMissingBucket: replicate to a bucket (container) that does not exist
// fails at start-up with one line naming it, and no credential.
func TestMissingBucket(t *testing.T) {
	cases := []struct {
		name string
		url  func(t *testing.T, bucket string) string
	}{
		{"s3", func(t *testing.T, b string) string {
			return fmt.Sprintf("s3://%s/db?endpoint=http://%s&region=us-east-1", b, minioEnv(t).endpoint)
		}},
		{"minio", func(t *testing.T, b string) string {
			return fmt.Sprintf("minio://%s/%s/db?tls=false", minioEnv(t).endpoint, b)
		}},
		{"azblob", func(t *testing.T, b string) string {
			azuriteEnv(t)
			return fmt.Sprintf("azblob://%s/db", b)
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			bucket := storetest.RandomName("e2e-missing-")
			url := c.url(t, bucket)
			root := t.TempDir()
			walDir := filepath.Join(root, "wal")
			writeLog(t, walDir, 9, 50)
			start := time.Now()
			r := walship(t, nil, "replicate", walDir, url, "--state", filepath.Join(root, "state"))
			took := time.Since(start)
			msg := strings.TrimSpace(r.stderr)
			if r.code == 0 || strings.Contains(msg, "\n") || !strings.Contains(msg, bucket) {
				t.Fatalf("replicate to missing bucket %s: want a non-zero exit and one line naming it; %s", bucket, r)
			}
			if strings.Contains(msg, "panic") {
				t.Fatalf("replicate panicked: %s", r)
			}
			t.Logf("exit %d after %v: %s", r.code, took.Round(time.Millisecond), msg)
		})
	}
}
