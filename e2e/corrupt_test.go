package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	mgo "github.com/minio/minio-go/v7"

	walagent "github.com/walship/walship/agent"
	"github.com/walship/walship/backends/storetest"
	"github.com/walship/walship/segments"
)

// TestCorruptSegmentOneStore: a log shipped to MinIO, Azurite and a file
// store by one `walship replicate --config`. Behind walship's back one byte
// of a segment's payload is flipped in MinIO (with minio-go: download,
// modify, delete, put again) and one byte of another segment in Azurite
// (with azblob). MinIO comes first in the config, Azurite second.
//
//   - `walship restore MINIO_URL` alone refuses (exit 1) naming the key;
//   - `walship restore --config F` restores byte-identical, taking the
//     damaged objects from the next store that holds them intact;
//   - `walship verify --config F` exits 3, naming each damaged key under
//     its own store only, and the file store OK.
func TestCorruptSegmentOneStore(t *testing.T) {
	srv := minioEnv(t)
	az := azuriteEnv(t)
	walshipBin(t)
	start := time.Now()
	ctx := context.Background()
	root := t.TempDir()
	walDir := filepath.Join(root, "wal")
	want := writeLog(t, walDir, 21, 3000)

	minioPrefix, azPrefix := storetest.RandomName("corrupt-"), storetest.RandomName("corrupt-")
	urls := map[string]string{
		"minio": fmt.Sprintf("minio://%s/%s/%s?tls=false", srv.endpoint, srv.bucket, minioPrefix),
		"azure": fmt.Sprintf("azblob://%s/%s", az.container, azPrefix),
		"file":  "file://" + filepath.Join(root, "filestore"),
	}
	addr := fmt.Sprintf("127.0.0.1:%d", freePorts(t, 1)[0])
	cfg := filepath.Join(root, "walship.yml")
	yml := fmt.Sprintf(`source: {wal: %q, format: binary}
state: %q
seal: {size: 32KiB, interval: 50ms}
stores:
  - {name: minio, url: %q}
  - {name: azure, url: %q}
  - {name: file, url: %q}
metrics: {addr: %q}
`, walDir, filepath.Join(root, "state"), urls["minio"], urls["azure"], urls["file"], addr)
	if err := os.WriteFile(cfg, []byte(yml), 0o644); err != nil {
		t.Fatal(err)
	}
	a := startAgent(t, nil, "--config", cfg)
	newAgentHTTP(addr).waitStatus(t, a, "every store shipped entry 3000", 60*time.Second, func(st walagent.Status) bool {
		for _, s := range st.Stores {
			if s.Shipped != uint64(len(want)) {
				return false
			}
		}
		return len(st.Stores) == 3
	})
	if code := a.term(t); code != 0 {
		t.Fatalf("replicate stopped by SIGTERM: exit %d\n%s", code, a.stderr)
	}

	r := walship(t, nil, "list", urls["file"], "segments", "--json")
	if r.code != 0 {
		t.Fatalf("list segments: %s", r)
	}
	var segs []segment
	if err := json.Unmarshal([]byte(r.stdout), &segs); err != nil {
		t.Fatalf("list segments --json: %v\n%s", err, r.stdout)
	}
	if len(segs) < 6 {
		t.Fatalf("only %d segments", len(segs))
	}
	inMinio, inAzure := segs[len(segs)/3], segs[2*len(segs)/3]

	// MinIO: download, flip a payload byte, delete, put again (minio-go).
	mkey := minioPrefix + "/" + inMinio.Key
	obj, err := srv.client.GetObject(ctx, srv.bucket, mkey, mgo.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(obj)
	obj.Close()
	if err != nil {
		t.Fatalf("download %s: %v", mkey, err)
	}
	flipPayloadByte(t, b)
	if err := srv.client.RemoveObject(ctx, srv.bucket, mkey, mgo.RemoveObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.client.PutObject(ctx, srv.bucket, mkey, bytes.NewReader(b), int64(len(b)), mgo.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}

	// Azurite: the same with azblob.
	akey := azPrefix + "/" + inAzure.Key
	resp, err := az.client.NewBlobClient(akey).DownloadStream(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err = io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("download %s: %v", akey, err)
	}
	flipPayloadByte(t, b)
	if _, err := az.client.NewBlobClient(akey).Delete(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := az.client.NewBlockBlobClient(akey).UploadBuffer(ctx, b, nil); err != nil {
		t.Fatal(err)
	}
	t.Logf("flipped a byte of %s in minio and of %s in azure", inMinio.Key, inAzure.Key)

	// The damaged store alone refuses.
	r = walship(t, nil, "restore", urls["minio"], filepath.Join(root, "bad"))
	if r.code != 1 || !strings.Contains(r.stderr, inMinio.Key) {
		t.Fatalf("restore from the damaged minio store alone: want exit 1 naming %s; %s", inMinio.Key, r)
	}
	if _, err := os.Stat(filepath.Join(root, "bad", "wal")); !os.IsNotExist(err) {
		t.Fatalf("a failed restore left bad/wal behind (%v)", err)
	}
	t.Logf("restore from minio alone: exit %d: %s", r.code, firstLines(strings.TrimSpace(r.stderr), 3))

	// All stores: falls back per object, byte-identical.
	out := filepath.Join(root, "out")
	r = walship(t, nil, "restore", "--config", cfg, out)
	if r.code != 0 {
		t.Fatalf("restore --config with one damaged segment in minio and one in azure: %s", r)
	}
	compareRestored(t, filepath.Join(out, "wal"), want)

	// verify names each damaged key under its own store.
	r = walship(t, nil, "verify", "--config", cfg)
	if r.code != 3 {
		t.Fatalf("verify --config: want exit 3; %s", r)
	}
	sections := verifySections(r.stdout)
	for name, bad := range map[string][]string{"minio": {inMinio.Key}, "azure": {inAzure.Key}, "file": nil} {
		sec, ok := sections[name]
		if !ok {
			t.Fatalf("verify --config: no section for store %s:\n%s", name, r.stdout)
		}
		damaged := grepLines(sec, "DAMAGED")
		if len(bad) == 0 {
			if damaged != "" || !strings.Contains(sec, "OK") {
				t.Errorf("verify: store %s is intact, report says:\n%s", name, sec)
			}
			continue
		}
		if strings.Count(damaged, "DAMAGED") != 1 || !strings.Contains(damaged, "DAMAGED "+bad[0]) {
			t.Errorf("verify: store %s: want exactly %s damaged, report says:\n%s", name, bad[0], sec)
		}
	}
	t.Logf("verify --config: exit %d\n%s", r.code, strings.TrimSpace(r.stdout))
	t.Logf("test took %v", time.Since(start).Round(time.Millisecond))
}

// flipPayloadByte inverts one byte in the middle of a segment's payload
// (after the header), which only the payload checksum can catch.
func flipPayloadByte(t *testing.T, b []byte) {
	t.Helper()
	if len(b) <= segments.HeaderSizeV1+1 {
		t.Fatalf("segment of %d bytes has no payload to damage", len(b))
	}
	i := segments.HeaderSizeV1 + (len(b)-segments.HeaderSizeV1)/2
	b[i] ^= 0xff
}

// verifySections splits `walship verify --config` output into its
// per-store reports ("store NAME" then that store's lines).
func verifySections(out string) map[string]string {
	secs := map[string]string{}
	cur := ""
	for _, l := range strings.Split(out, "\n") {
		if name, ok := strings.CutPrefix(l, "store "); ok {
			cur = strings.TrimSpace(name)
			continue
		}
		if cur != "" {
			secs[cur] += l + "\n"
		}
	}
	return secs
}
