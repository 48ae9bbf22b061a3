package main

import (
	"context"
	"testing"

	mgo "github.com/minio/minio-go/v7"

	"github.com/walship/walship/backends/minio"
	"github.com/walship/walship/backends/storetest"
	"github.com/walship/walship/crypt"
	"github.com/walship/walship/migrate/migratetest"
)

// TestMigrateMinIO migrates a store on a real MinIO (conditional Put,
// records swapped on the ETag) through the CLI: every object is then v2
// sealed to the recipient and every target restores exactly.
func TestMigrateMinIO(t *testing.T) {
	v := storetest.Env(t, "WALSHIP_TEST_MINIO_ENDPOINT", "WALSHIP_TEST_MINIO_ACCESS_KEY", "WALSHIP_TEST_MINIO_SECRET_KEY")
	t.Setenv("MINIO_ACCESS_KEY", v[1])
	t.Setenv("MINIO_SECRET_KEY", v[2])
	bucket := storetest.RandomName("walship-migrate-")
	st, err := minio.New(minio.Options{Endpoint: v[0], Bucket: bucket, Prefix: "db", DisableTLS: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Client().MakeBucket(context.Background(), bucket, mgo.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	w := migratetest.Build(t, st)
	id, _, pub := testKeys(t, t.TempDir(), "a")
	url := "minio://" + v[0] + "/" + bucket + "/db?tls=false"
	if code, out, errOut := walship(t, "migrate", url, "--to", "2", "--encrypt-to", pub, "--scratch", t.TempDir()); code != 0 {
		t.Fatalf("migrate: exit %d\n%s\n%s", code, out, errOut)
	}
	r, _ := id.Recipient()
	migratetest.CheckTarget(t, st, []*crypt.Recipient{r}, nil)
	w.Identities = []*crypt.Identity{id}
	migratetest.RestoreAll(t, w, st)
}
