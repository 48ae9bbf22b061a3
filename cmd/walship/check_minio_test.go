package main

import (
	"context"
	"path/filepath"
	"testing"

	mgo "github.com/minio/minio-go/v7"

	"github.com/walship/walship/backends"
	"github.com/walship/walship/backends/minio"
	"github.com/walship/walship/backends/storetest"
)

// TestCheckMinIO checks a real MinIO bucket (it passes, clock included)
// and a bucket that does not exist there (the server answers; the bucket
// row fails and says so).
func TestCheckMinIO(t *testing.T) {
	v := storetest.Env(t, "WALSHIP_TEST_MINIO_ENDPOINT", "WALSHIP_TEST_MINIO_ACCESS_KEY", "WALSHIP_TEST_MINIO_SECRET_KEY")
	ep, access, secret := v[0], v[1], v[2]
	t.Setenv("MINIO_ACCESS_KEY", access)
	t.Setenv("MINIO_SECRET_KEY", secret)
	bucket := storetest.RandomName("walship-check-")
	mc, err := minio.New(minio.Options{Endpoint: ep, Bucket: bucket, DisableTLS: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := mc.Client().MakeBucket(context.Background(), bucket, mgo.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	walDir := filepath.Join(root, "wal")
	writeLog(t, walDir, 4)
	good := "minio://" + ep + "/" + bucket + "/db?tls=false"
	missing := "minio://" + ep + "/" + bucket + "-missing/db?tls=false"
	code, res, stderr := runCheck(t, walDir, good, missing, "--timeout", "5s")
	if code != 1 {
		t.Fatalf("exit %d (%s), want 1 for the missing bucket", code, stderr)
	}
	for _, r := range []string{rowReachable, rowBucket, rowProbe, rowCond, rowClock, rowBackup} {
		res.wantRow(t, good, r, statusOK)
	}
	res.wantRow(t, good, rowClock, statusOK, "within 5m0s")
	res.wantRow(t, missing, rowReachable, statusOK)
	res.wantRow(t, missing, rowBucket, statusFail, bucket+"-missing")
	res.wantRow(t, missing, rowProbe, statusSkip)
	var left []string
	mc.List(context.Background(), "", "", func(oi backends.ObjectInfo) error { left = append(left, oi.Key); return nil })
	if len(left) > 0 {
		t.Fatalf("check left objects behind: %v", left)
	}
}
