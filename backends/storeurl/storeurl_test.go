package storeurl_test

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/walship/walship/backends"
	"github.com/walship/walship/backends/azure"
	"github.com/walship/walship/backends/gcs"
	"github.com/walship/walship/backends/minio"
	"github.com/walship/walship/backends/s3"
	"github.com/walship/walship/backends/storetest"
	"github.com/walship/walship/backends/storeurl"
)

func TestParse(t *testing.T) {
	wd, _ := os.Getwd()
	cases := []struct {
		url  string
		want storeurl.Spec
	}{
		{"file:///var/backups/db", storeurl.Spec{Scheme: "file", File: "/var/backups/db"}},
		{"file://localhost/var/b/", storeurl.Spec{Scheme: "file", File: "/var/b"}},
		{"/abs/path", storeurl.Spec{Scheme: "file", File: "/abs/path"}},
		{"rel/dir", storeurl.Spec{Scheme: "file", File: filepath.Join(wd, "rel/dir")}},
		{"./x/../y", storeurl.Spec{Scheme: "file", File: filepath.Join(wd, "y")}},
		{"mem://", storeurl.Spec{Scheme: "mem"}},
		{"s3://my-bucket", storeurl.Spec{Scheme: "s3", S3: &s3.Options{Bucket: "my-bucket"}}},
		{"s3://my.bucket-1/db/main/", storeurl.Spec{Scheme: "s3", S3: &s3.Options{Bucket: "my.bucket-1", Prefix: "db/main"}}},
		{"s3://b12/p?endpoint=http://127.0.0.1:9000&region=us-east-1", storeurl.Spec{Scheme: "s3", S3: &s3.Options{
			Bucket: "b12", Prefix: "p", Endpoint: "http://127.0.0.1:9000", Region: "us-east-1"}}},
		{"s3://b12/p?part_size=8MiB&concurrency=8&sse=aws:kms&kms_key_id=alias/k&storage_class=STANDARD_IA",
			storeurl.Spec{Scheme: "s3", S3: &s3.Options{Bucket: "b12", Prefix: "p", PartSize: 8 << 20, Concurrency: 8,
				SSE: "aws:kms", KMSKeyID: "alias/k", StorageClass: "STANDARD_IA"}}},
		{"s3://b12?sse=AES256&part_size=5242880", storeurl.Spec{Scheme: "s3", S3: &s3.Options{Bucket: "b12", SSE: "AES256", PartSize: 5 << 20}}},
		{"minio://127.0.0.1:9000/bkt/a/b?tls=false", storeurl.Spec{Scheme: "minio", MinIO: &minio.Options{
			Endpoint: "127.0.0.1:9000", Bucket: "bkt", Prefix: "a/b", DisableTLS: true}}},
		{"minio://minio.example.com:443/bkt", storeurl.Spec{Scheme: "minio", MinIO: &minio.Options{
			Endpoint: "minio.example.com:443", Bucket: "bkt"}}},
		{"minio://h:9000/bkt/p?part_size=16MB&region=eu-1", storeurl.Spec{Scheme: "minio", MinIO: &minio.Options{
			Endpoint: "h:9000", Bucket: "bkt", Prefix: "p", PartSize: 16_000_000, Region: "eu-1"}}},
		{"azblob://backups/mydb", storeurl.Spec{Scheme: "azblob", Azure: &azure.Options{Container: "backups", Prefix: "mydb"}}},
		{"azblob://backups-1/x?endpoint=http://127.0.0.1:10000/devstoreaccount1&tier=Cool&block_size=4MiB&concurrency=2",
			storeurl.Spec{Scheme: "azblob", Azure: &azure.Options{Container: "backups-1", Prefix: "x",
				Endpoint: "http://127.0.0.1:10000/devstoreaccount1", Tier: "cool", BlockSize: 4 << 20, Concurrency: 2}}},
		{"  S3://b12  ", storeurl.Spec{Scheme: "s3", S3: &s3.Options{Bucket: "b12"}}},
		{"gs://my-bucket", storeurl.Spec{Scheme: "gs", GCS: &gcs.Options{Bucket: "my-bucket"}}},
		{"gs://my_bucket.example/db/main/", storeurl.Spec{Scheme: "gs", GCS: &gcs.Options{Bucket: "my_bucket.example", Prefix: "db/main"}}},
		{"gs://b12/p?endpoint=http://127.0.0.1:4443&chunk_size=8MiB&storage_class=NEARLINE", storeurl.Spec{Scheme: "gs", GCS: &gcs.Options{
			Bucket: "b12", Prefix: "p", Endpoint: "http://127.0.0.1:4443", ChunkSize: 8 << 20, StorageClass: "NEARLINE"}}},
		{"GS://b12?chunk_size=262144", storeurl.Spec{Scheme: "gs", GCS: &gcs.Options{Bucket: "b12", ChunkSize: 256 << 10}}},
	}
	for _, c := range cases {
		got, err := storeurl.Parse(c.url)
		if err != nil {
			t.Errorf("Parse(%q): %v", c.url, err)
			continue
		}
		got.Redacted = ""
		if !equalSpec(got, c.want) {
			t.Errorf("Parse(%q) =\n  %s\nwant\n  %s", c.url, show(got), show(c.want))
		}
	}
}

func equalSpec(a, b storeurl.Spec) bool { return show(a) == show(b) }

func show(s storeurl.Spec) string {
	out := s.Scheme + " file=" + s.File
	if s.S3 != nil {
		out += " s3=" + strings.TrimSpace(sprint(*s.S3))
	}
	if s.MinIO != nil {
		out += " minio=" + sprint(*s.MinIO)
	}
	if s.Azure != nil {
		out += " azure=" + sprint(*s.Azure)
	}
	if s.GCS != nil {
		out += " gcs=" + sprint(*s.GCS)
	}
	return out
}

func TestParseErrors(t *testing.T) {
	cases := []struct{ url, want string }{
		{"", "empty store URL"},
		{"gcs://bucket/x", `unknown scheme "gcs" (known: file, mem, s3, minio, azblob, gs)`},
		{"gs:bucket/x", "did you mean gs://"},
		{"gs://", "no bucket name (want gs://BUCKET/PREFIX)"},
		{"gs://ab", "3-63 characters"},
		{"gs://" + strings.Repeat("a", 64), "3-63 characters"},
		{"gs://" + strings.Repeat("a", 64) + ".b", "at most 63 characters"},
		{"gs://My-Bucket", "only lowercase letters, digits, '.', '-' and '_'"},
		{"gs://_bucket", "start and end with a letter or digit"},
		{"gs://my..bucket", `must not contain ".."`},
		{"gs://10.0.0.1", "IP address"},
		{"gs://goog-backups", `must not start with "goog"`},
		{"gs://my-google-backups", `contain "google"`},
		{"gs://key:secretsecret@bucket/p", "put credentials in the environment"},
		{"gs://bucket/p?endpoint=http://u:secretsecret@h:4443", "credentials in the endpoint are refused"},
		{"gs://bucket/p?endpoint=http://h:4443/?token=secretsecret", "credentials in the endpoint are refused"},
		{"gs://bucket/p?endpoint=h:4443", "http://HOST:PORT"},
		{"gs://bucket/p?chunk_size=1000", "multiple of 256KiB"},
		{"gs://bucket/p?chunk_size=2GiB", "up to 1GiB"},
		{"gs://bucket/p?region=us", `unknown option "region"`},
		{"gs://bucket/a//b", "prefix"},
		{"s3:bucket/x", "did you mean s3://"},
		{"s3://", "no bucket name"},
		{"s3://ab", "3-63 characters"},
		{"s3://" + strings.Repeat("a", 64), "3-63 characters"},
		{"s3://My-Bucket", "only lowercase letters"},
		{"s3://my_bucket", "only lowercase letters"},
		{"s3://-bucket", "start and end with a letter or digit"},
		{"s3://bucket-", "start and end with a letter or digit"},
		{"s3://my..bucket", `must not contain ".."`},
		{"s3://192.168.1.10", "IP address"},
		{"s3://AKIAXXX:secretsecret@bucket/p", "put credentials in the environment"},
		{"s3://bucket/p?endpoint=http://u:secretsecret@h:9000", "credentials in the endpoint are refused"},
		{"s3://bucket/p?endpoint=localhost:9000", "http(s)://host"},
		{"s3://bucket/p?regoin=us-east-1", `unknown option "regoin"`},
		{"s3://bucket/p?region=a&region=b", "given 2 times"},
		{"s3://bucket/p?part_size=1MiB", "below the S3 minimum"},
		{"s3://bucket/p?part_size=lots", "want a number"},
		{"s3://bucket/p?part_size=5XB", "unknown unit"},
		{"s3://bucket/p?concurrency=0", "whole number"},
		{"s3://bucket/p?sse=rot13", "use AES256 or aws:kms"},
		{"s3://bucket/p?kms_key_id=k", "kms_key_id needs sse=aws:kms"},
		{"s3://bucket/a b", "prefix"},
		{"s3://bucket/a//b", "prefix"},
		{"s3://bucket/../etc", "prefix"},
		{"s3://bucket/p#frag", "fragment"},
		{"minio://", "no server"},
		{"minio://h:9000", "no bucket"},
		{"minio://h:9000/", "no bucket"},
		{"minio://:9000/b12", "no host"},
		{"minio://h:99999/b12", "bad port"},
		{"minio://h:9000/B12", "only lowercase"},
		{"minio://h:9000/b12?tls=maybe", "want true or false"},
		{"minio://key:secretsecret@h:9000/b12", "put credentials in the environment"},
		{"azblob://ab", "3-63 characters"},
		{"azblob://my--container", `must not contain "--"`},
		{"azblob://my.container", "only lowercase letters, digits and '-'"},
		{"azblob://-container", "start and end"},
		{"azblob://Backups", "only lowercase"},
		{"azblob://backups?tier=archive", "archive is refused"},
		{"azblob://backups?tier=warm", "use hot, cool or cold"},
		{"azblob://backups?endpoint=https://a.blob.core.windows.net/?sig=secretsecret", "credentials in the endpoint"},
		{"azblob://backups?block_size=100", "block_size"},
		{"azblob://backups?sas=secretsecret", `unknown option "sas"`},
		{"file://relative/path", "three slashes"},
		{"file://", "without a path"},
		{"file:///x?mode=1", "no options"},
		{"mem://x", "takes no"},
		{"s3://bucket/%zz", "malformed"},
	}
	for _, c := range cases {
		_, err := storeurl.Parse(c.url)
		if err == nil {
			t.Errorf("Parse(%q) succeeded, want error containing %q", c.url, c.want)
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, c.want) {
			t.Errorf("Parse(%q) = %q, want it to contain %q", c.url, msg, c.want)
		}
		if !errors.Is(err, storeurl.ErrInvalidURL) {
			t.Errorf("Parse(%q) error does not wrap ErrInvalidURL", c.url)
		}
		if strings.Contains(msg, "secretsecret") || strings.Contains(msg, "\n") {
			t.Errorf("Parse(%q) error leaks a secret or spans lines: %q", c.url, msg)
		}
	}
}

func TestRedact(t *testing.T) {
	cases := []struct{ in, want string }{
		{"s3://b12/p?endpoint=http://127.0.0.1:9000&region=us-east-1", "s3://b12/p?endpoint=http://127.0.0.1:9000&region=us-east-1"},
		{"s3://AKIA:secret@b12/p", "s3://REDACTED@b12/p"},
		{"azblob://c-1/p?sv=2020&sig=abc%2Fdef", "azblob://c-1/p?sig=REDACTED&sv=REDACTED"},
		{"s3://b12/p?endpoint=http://u:pw@h:9000", "s3://b12/p?endpoint=http://REDACTED@h:9000"},
		{"/plain/path", "/plain/path"},
		{"s3://b12/%zz:secret", "s3://(unparsable URL)"},
		{"minio://h:9000/b12?tls=false", "minio://h:9000/b12?tls=false"},
		{"gs://b12/p?endpoint=http://127.0.0.1:4443&chunk_size=1MiB", "gs://b12/p?chunk_size=1MiB&endpoint=http://127.0.0.1:4443"},
		{"gs://b12/p?endpoint=http://u:pw@h:4443&token=abc", "gs://b12/p?endpoint=http://REDACTED@h:4443&token=REDACTED"},
	}
	for _, c := range cases {
		if got := storeurl.Redact(c.in); got != c.want {
			t.Errorf("Redact(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"0": 0, "100": 100, "16MiB": 16 << 20, "5 MiB": 5 << 20, "1kb": 1000, "2GiB": 2 << 30, "3M": 3 << 20} {
		if got, err := storeurl.ParseSize(in); err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "MiB", "-1", "1.5MiB", "9999999999999GiB"} {
		if _, err := storeurl.ParseSize(in); err == nil {
			t.Errorf("ParseSize(%q) succeeded", in)
		}
	}
}

func TestOpenLocal(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	for _, u := range []string{"file://" + dir, dir + "/sub", "mem://"} {
		st, err := storeurl.Open(ctx, u)
		if err != nil {
			t.Fatalf("Open(%q): %v", u, err)
		}
		if err := st.Put(ctx, "k", strings.NewReader("v"), 1); err != nil {
			t.Fatalf("%s: put: %v", st, err)
		}
		st.Close()
	}
	for _, u := range []string{"gcs://x", "gs://x"} {
		if _, err := storeurl.Open(ctx, u); !errors.Is(err, storeurl.ErrInvalidURL) {
			t.Fatalf("Open(%s) = %v", u, err)
		}
	}
}

// TestOpenServers opens each server store through its URL, with
// credentials only in the environment, and checks that a missing bucket,
// bad credentials and a closed port fail at Open with one clean line.
func TestOpenServers(t *testing.T) {
	v := storetest.Env(t, "WALSHIP_TEST_MINIO_ENDPOINT", "WALSHIP_TEST_MINIO_ACCESS_KEY", "WALSHIP_TEST_MINIO_SECRET_KEY",
		"WALSHIP_TEST_AZURITE_ENDPOINT", "WALSHIP_TEST_AZURITE_ACCOUNT", "WALSHIP_TEST_AZURITE_KEY")
	minioEP, access, secret, azEP, azAccount, azKey := v[0], v[1], v[2], v[3], v[4], v[5]
	ctx := context.Background()
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_ACCESS_KEY_ID", access)
	t.Setenv("AWS_SECRET_ACCESS_KEY", secret)
	t.Setenv("MINIO_ACCESS_KEY", "")
	t.Setenv("MINIO_SECRET_KEY", "")
	t.Setenv("AZURE_STORAGE_CONNECTION_STRING", "")
	t.Setenv("AZURE_STORAGE_ACCOUNT", azAccount)
	t.Setenv("AZURE_STORAGE_KEY", azKey)

	bucket := storetest.RandomName("walship-url-")
	mc, err := minio.New(minio.Options{Endpoint: minioEP, Bucket: bucket, DisableTLS: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := mc.Client().MakeBucket(ctx, bucket, minioMakeBucketOptions()); err != nil {
		t.Fatal(err)
	}
	container := storetest.RandomName("walship-url-")
	ac, err := azure.New(azure.Options{Container: container, Endpoint: azEP})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ac.ContainerClient().Create(ctx, nil); err != nil {
		t.Fatal(err)
	}

	good := []string{
		"s3://" + bucket + "/db?endpoint=http://" + minioEP + "&region=us-east-1&part_size=5MiB",
		"minio://" + minioEP + "/" + bucket + "/db2?tls=false",
		"azblob://" + container + "/db?endpoint=" + azEP + "&tier=hot",
	}
	for _, u := range good {
		st, err := storeurl.Open(ctx, u)
		if err != nil {
			t.Fatalf("Open(%s): %v", u, err)
		}
		if err := st.Put(ctx, "seg/1", strings.NewReader("hello"), 5); err != nil {
			t.Fatalf("%s: put: %v", st, err)
		}
		if oi, err := st.Stat(ctx, "seg/1"); err != nil || oi.Size != 5 {
			t.Fatalf("%s: stat: %+v %v", st, oi, err)
		}
		t.Logf("opened %s", st)
		st.Close()
	}

	closed := closedPort(t)
	bad := []struct{ url, want string }{
		{"s3://walship-missing/db?endpoint=http://" + minioEP, "create bucket walship-missing"},
		{"minio://" + minioEP + "/walship-missing/db?tls=false", "create bucket walship-missing"},
		{"azblob://walship-missing/db?endpoint=" + azEP, "does not exist"},
		{"s3://" + bucket + "/db?endpoint=http://" + closed, "cannot reach"},
		{"minio://" + closed + "/" + bucket + "?tls=false", "cannot reach"},
		{"azblob://" + container + "?endpoint=http://" + closed + "/devstoreaccount1", "cannot reach"},
		{"minio://" + minioEP + "/" + bucket, "tls=false"},
	}
	for _, c := range bad {
		start := time.Now()
		_, err := storeurl.Open(ctx, c.url)
		took := time.Since(start)
		if err == nil {
			t.Fatalf("Open(%s) succeeded", c.url)
		}
		msg := err.Error()
		t.Logf("%s -> %s (%v)", c.url, msg, took.Round(time.Millisecond))
		if !strings.Contains(msg, c.want) || strings.Contains(msg, "\n") {
			t.Errorf("Open(%s) = %q, want one line containing %q", c.url, msg, c.want)
		}
		if took > storeurl.CheckTimeout+2*time.Second {
			t.Errorf("Open(%s) took %v", c.url, took)
		}
	}

	// Wrong credentials from the environment.
	t.Setenv("AWS_SECRET_ACCESS_KEY", "wrong-secret-key-123")
	t.Setenv("AZURE_STORAGE_KEY", "d3Jvbmcta2V5LTEyMzQ1Njc4OTA=")
	for _, u := range []string{
		"s3://" + bucket + "/db?endpoint=http://" + minioEP,
		"minio://" + minioEP + "/" + bucket + "?tls=false",
		"azblob://" + container + "?endpoint=" + azEP,
	} {
		_, err := storeurl.Open(ctx, u)
		if err == nil || !backends.IsPermanent(err) {
			t.Fatalf("Open(%s) with bad credentials = %v, want a permanent error", u, err)
		}
		msg := err.Error()
		t.Logf("bad credentials: %s", msg)
		for _, s := range []string{"wrong-secret-key-123", "d3Jvbmcta2V5", secret, azKey} {
			if strings.Contains(msg, s) {
				t.Errorf("error leaks a credential: %q", msg)
			}
		}
	}
}

func closedPort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// TestOpenGCS opens a gs:// store on the emulator through its URL and
// checks that a missing bucket and a closed port fail at Open with one
// clean line.
func TestOpenGCS(t *testing.T) {
	ep := storetest.Env(t, "WALSHIP_TEST_GCS_ENDPOINT")[0]
	ctx := context.Background()
	bucket := storetest.RandomName("walship-url-")
	admin, err := gcs.New(ctx, gcs.Options{Bucket: bucket, Endpoint: ep})
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if err := admin.Client().Bucket(bucket).Create(ctx, "walship-test", nil); err != nil {
		t.Fatal(err)
	}
	st, err := storeurl.Open(ctx, "gs://"+bucket+"/db?endpoint="+ep+"&chunk_size=256KiB")
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Put(ctx, "seg/1", strings.NewReader("hello"), 5); err != nil {
		t.Fatalf("%s: put: %v", st, err)
	}
	if oi, err := st.Stat(ctx, "seg/1"); err != nil || oi.Size != 5 {
		t.Fatalf("%s: stat: %+v %v", st, oi, err)
	}
	if got := st.String(); got != "gs://"+bucket+"/db" {
		t.Errorf("String() = %q", got)
	}
	st.Close()

	closed := closedPort(t)
	for _, c := range []struct {
		url, want string
		permanent bool
	}{
		{"gs://walship-missing/db?endpoint=" + ep, `bucket "walship-missing" does not exist`, true},
		{"gs://" + bucket + "/db?endpoint=http://" + closed, "cannot reach http://" + closed, false},
	} {
		start := time.Now()
		_, err := storeurl.Open(ctx, c.url)
		took := time.Since(start)
		if err == nil {
			t.Fatalf("Open(%s) succeeded", c.url)
		}
		msg := err.Error()
		t.Logf("%s -> %s (%v)", c.url, msg, took.Round(time.Millisecond))
		if !strings.Contains(msg, c.want) || strings.Contains(msg, "\n") {
			t.Errorf("Open(%s) = %q, want one line containing %q", c.url, msg, c.want)
		}
		if backends.IsPermanent(err) != c.permanent {
			t.Errorf("Open(%s): permanent = %v, want %v", c.url, backends.IsPermanent(err), c.permanent)
		}
		if took > storeurl.CheckTimeout+2*time.Second {
			t.Errorf("Open(%s) took %v", c.url, took)
		}
	}
}
