package deadline_test

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/walship/walship/backends"
	"github.com/walship/walship/backends/deadline"
	"github.com/walship/walship/backends/storetest"
	"github.com/walship/walship/backends/storeurl"
)

// TestRealClientsAgainstABlackHole drives the real SDK clients (aws-sdk-go-v2,
// minio-go, azblob) at a server that accepts and never answers: every call
// must come back with ErrTimeout within its bound, not hang.
func TestRealClientsAgainstABlackHole(t *testing.T) {
	addr := storetest.BlackHole(t)
	t.Setenv("AWS_ACCESS_KEY_ID", "walship-test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "walship-test-secret")
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("MINIO_ACCESS_KEY", "walship-test")
	t.Setenv("MINIO_SECRET_KEY", "walship-test-secret")
	t.Setenv("AZURE_STORAGE_CONNECTION_STRING", "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"+
		"AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;"+
		"BlobEndpoint=http://"+addr+"/devstoreaccount1;")
	urls := map[string]string{
		"s3":     "s3://bucket/prefix?endpoint=http://" + addr + "&region=us-east-1",
		"minio":  "minio://" + addr + "/bucket/prefix",
		"azblob": "azblob://container/prefix",
	}
	o := deadline.Options{Op: 300 * time.Millisecond, Tick: 10 * time.Millisecond}
	for name, u := range urls {
		t.Run(name, func(t *testing.T) {
			spec, err := storeurl.Parse(u)
			if err != nil {
				t.Fatal(err)
			}
			inner, err := storeurl.Build(context.Background(), spec)
			if err != nil {
				t.Fatal(err)
			}
			s := deadline.New(inner, o)
			defer s.Close()
			ctx := context.Background()
			data := bytes.Repeat([]byte("w"), 1<<20)
			calls := map[string]func() error{
				"put":   func() error { return s.Put(ctx, "segments/k", bytes.NewReader(data), int64(len(data))) },
				"get":   func() error { _, err := s.Get(ctx, "segments/k", 0, -1); return err },
				"stat":  func() error { _, err := s.Stat(ctx, "segments/k"); return err },
				"list":  func() error { return s.List(ctx, "segments/", "", func(backends.ObjectInfo) error { return nil }) },
				"check": func() error { return s.Check(ctx) },
			}
			for op, call := range calls {
				start := time.Now()
				err := call()
				if d := time.Since(start); d > 5*time.Second {
					t.Errorf("%s: gave up after %s", op, d)
				}
				if err == nil {
					t.Errorf("%s against a black hole succeeded", op)
				} else if !errors.Is(err, deadline.ErrTimeout) {
					t.Errorf("%s: want ErrTimeout, got %v", op, err)
				}
			}
		})
	}
}
