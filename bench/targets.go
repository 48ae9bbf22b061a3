package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"cloud.google.com/go/storage"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	mgo "github.com/minio/minio-go/v7"
	mcreds "github.com/minio/minio-go/v7/pkg/credentials"
	"google.golang.org/api/option"

	"github.com/walship/walship/backends"
	"github.com/walship/walship/backends/gcs"
	"github.com/walship/walship/backends/minio"
	"github.com/walship/walship/backends/s3"
)

// clientNames name the clients -clients takes.
var clientNames = map[string]string{"minio": "minio-go", "s3": "aws-sdk-go-v2", "gcs": "GCS emulator"}

// gcsVar is the variable scripts/testenv.sh exports for its GCS emulator.
const gcsVar = "WALSHIP_TEST_GCS_ENDPOINT"

// server is where a client's objects go: its host:port (what the HTTP
// counter proxies) and the bucket.
func server(client string, srv minioServer, minioBucket string) (hostport, bucket string, err error) {
	if client != "gcs" {
		return srv.endpoint, minioBucket, nil
	}
	ep := os.Getenv(gcsVar)
	if ep == "" {
		return "", "", fmt.Errorf("-clients gcs needs the GCS emulator (%s unset): run scripts/bench.sh, which starts one", gcsVar)
	}
	return strings.TrimPrefix(ep, "http://"), minioBucket, nil
}

// target is one client's walship store and its plain SDK calls on the same
// bucket, for the raw baseline.
type target struct {
	store backends.Store
	put   func(ctx context.Context, key, file string) error // one object from a local file
	get   func(ctx context.Context, key string) error       // one object, read to the end
	close func()
}

// newTarget connects client to the server at addr (the HTTP counter), the
// walship store under prefix; for gcs it creates the bucket.
func newTarget(ctx context.Context, client, addr, bucket, prefix string, srv minioServer) (target, error) {
	switch client {
	case "minio":
		st, err := minio.New(minio.Options{Endpoint: addr, Bucket: bucket, Prefix: prefix, DisableTLS: true,
			AccessKey: srv.access, SecretKey: srv.secret})
		if err != nil {
			return target{}, err
		}
		mc, err := mgo.New(srv.endpoint, &mgo.Options{Creds: mcreds.NewStaticV4(srv.access, srv.secret, ""),
			Region: "us-east-1", BucketLookup: mgo.BucketLookupPath})
		if err != nil {
			return target{}, err
		}
		return target{store: st, close: func() {},
			put: func(ctx context.Context, key, file string) error {
				return withFile(file, func(f *os.File, size int64) error {
					_, err := mc.PutObject(ctx, bucket, key, f, size, mgo.PutObjectOptions{})
					return err
				})
			},
			get: func(ctx context.Context, key string) error {
				o, err := mc.GetObject(ctx, bucket, key, mgo.GetObjectOptions{})
				if err != nil {
					return err
				}
				defer o.Close()
				_, err = io.Copy(io.Discard, o)
				return err
			}}, nil
	case "s3":
		st, err := s3.New(ctx, s3.Options{Bucket: bucket, Prefix: prefix, Endpoint: "http://" + addr,
			Credentials: credentials.NewStaticCredentialsProvider(srv.access, srv.secret, "")})
		if err != nil {
			return target{}, err
		}
		ac, err := rawS3Client(ctx, srv)
		if err != nil {
			return target{}, err
		}
		return target{store: st, close: func() {},
			put: func(ctx context.Context, key, file string) error {
				return withFile(file, func(f *os.File, size int64) error {
					_, err := ac.PutObject(ctx, &awss3.PutObjectInput{Bucket: &bucket, Key: &key, Body: f, ContentLength: aws.Int64(size)})
					return err
				})
			},
			get: func(ctx context.Context, key string) error {
				o, err := ac.GetObject(ctx, &awss3.GetObjectInput{Bucket: &bucket, Key: &key})
				if err != nil {
					return err
				}
				defer o.Body.Close()
				_, err = io.Copy(io.Discard, o.Body)
				return err
			}}, nil
	case "gcs":
		ep := os.Getenv(gcsVar)
		gc, err := storage.NewClient(ctx, option.WithEndpoint(strings.TrimSuffix(ep, "/")+"/storage/v1/"), option.WithoutAuthentication(),
			storage.WithDisabledClientMetrics())
		if err != nil {
			return target{}, err
		}
		b := gc.Bucket(bucket)
		if err := b.Create(ctx, "walship-bench", nil); err != nil {
			gc.Close()
			return target{}, fmt.Errorf("create bucket %s: %w", bucket, err)
		}
		st, err := gcs.New(ctx, gcs.Options{Bucket: bucket, Prefix: prefix, Endpoint: "http://" + addr})
		if err != nil {
			gc.Close()
			return target{}, err
		}
		return target{store: st, close: func() { gc.Close() },
			put: func(ctx context.Context, key, file string) error {
				return withFile(file, func(f *os.File, size int64) error {
					w := b.Object(key).NewWriter(ctx)
					w.ChunkSize = 0 // one request, as walship sends its segments
					if _, err := io.Copy(w, f); err != nil {
						w.Close()
						return err
					}
					return w.Close()
				})
			},
			get: func(ctx context.Context, key string) error {
				r, err := b.Object(key).NewReader(ctx)
				if err != nil {
					return err
				}
				defer r.Close()
				_, err = io.Copy(io.Discard, r)
				return err
			}}, nil
	}
	return target{}, fmt.Errorf("unknown client %q", client)
}

func withFile(path string, fn func(f *os.File, size int64) error) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	return fn(f, fi.Size())
}
