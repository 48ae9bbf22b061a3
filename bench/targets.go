package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"

	"cloud.google.com/go/storage"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	mgo "github.com/minio/minio-go/v7"
	mcreds "github.com/minio/minio-go/v7/pkg/credentials"
	"google.golang.org/api/googleapi"
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

// target is one client's walship store and plain SDK calls of the same
// client on the same bucket, for the raw baseline: proxied goes through
// the HTTP counter, as walship's requests do (the ratios compare with
// it); direct goes straight to the server, for reference.
type target struct {
	store           backends.Store
	proxied, direct rawClient
	close           func()
}

// rawClient is a client's plain calls, nothing of walship's in between.
type rawClient struct {
	put func(ctx context.Context, key, file string) error // one object from a local file
	get func(ctx context.Context, key string) error       // one object, read to the end
}

// newTarget connects client to the server at addr (the HTTP counter), the
// walship store under prefix; for gcs it creates the bucket.
func newTarget(ctx context.Context, client, addr, bucket, prefix string, srv minioServer) (target, error) {
	var st backends.Store
	var err error
	switch client {
	case "minio":
		st, err = minio.New(minio.Options{Endpoint: addr, Bucket: bucket, Prefix: prefix, DisableTLS: true,
			AccessKey: srv.access, SecretKey: srv.secret})
	case "s3":
		st, err = s3.New(ctx, s3.Options{Bucket: bucket, Prefix: prefix, Endpoint: "http://" + addr,
			Credentials: credentials.NewStaticCredentialsProvider(srv.access, srv.secret, "")})
	case "gcs":
		if err = createGCSBucket(ctx, bucket); err == nil {
			st, err = gcs.New(ctx, gcs.Options{Bucket: bucket, Prefix: prefix, Endpoint: "http://" + addr})
		}
	default:
		return target{}, fmt.Errorf("unknown client %q", client)
	}
	if err != nil {
		return target{}, err
	}
	direct, _, err := server(client, srv, bucket)
	if err != nil {
		return target{}, err
	}
	tg := target{store: st}
	var closeP, closeD func()
	if tg.proxied, closeP, err = newRawClient(ctx, client, addr, bucket, srv); err != nil {
		return target{}, err
	}
	if tg.direct, closeD, err = newRawClient(ctx, client, direct, bucket, srv); err != nil {
		closeP()
		return target{}, err
	}
	tg.close = func() { closeP(); closeD() }
	return tg, nil
}

// createGCSBucket creates bucket on the GCS emulator, unless an earlier
// target of the same run did.
func createGCSBucket(ctx context.Context, bucket string) error {
	gc, err := gcsClient(ctx, strings.TrimPrefix(os.Getenv(gcsVar), "http://"))
	if err != nil {
		return err
	}
	defer gc.Close()
	var ge *googleapi.Error
	if err := gc.Bucket(bucket).Create(ctx, "walship-bench", nil); err != nil && !(errors.As(err, &ge) && ge.Code == http.StatusConflict) {
		return fmt.Errorf("create bucket %s: %w", bucket, err)
	}
	return nil
}

func gcsClient(ctx context.Context, hostport string) (*storage.Client, error) {
	return storage.NewClient(ctx, option.WithEndpoint("http://"+hostport+"/storage/v1/"), option.WithoutAuthentication(),
		storage.WithDisabledClientMetrics())
}

// newRawClient is client's plain SDK talking to hostport.
func newRawClient(ctx context.Context, client, hostport, bucket string, srv minioServer) (rawClient, func(), error) {
	switch client {
	case "minio":
		mc, err := mgo.New(hostport, &mgo.Options{Creds: mcreds.NewStaticV4(srv.access, srv.secret, ""),
			Region: "us-east-1", BucketLookup: mgo.BucketLookupPath})
		if err != nil {
			return rawClient{}, nil, err
		}
		return rawClient{
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
			}}, func() {}, nil
	case "s3":
		ac, err := rawS3Client(ctx, srv, hostport)
		if err != nil {
			return rawClient{}, nil, err
		}
		return rawClient{
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
			}}, func() {}, nil
	case "gcs":
		gc, err := gcsClient(ctx, hostport)
		if err != nil {
			return rawClient{}, nil, err
		}
		b := gc.Bucket(bucket)
		return rawClient{
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
			}}, func() { gc.Close() }, nil
	}
	return rawClient{}, nil, fmt.Errorf("unknown client %q", client)
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
