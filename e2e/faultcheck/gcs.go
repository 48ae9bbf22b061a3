package faultcheck

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"cloud.google.com/go/storage"
	"google.golang.org/api/iterator"
	"google.golang.org/api/option"
)

// newFakeGCS is a fake-gcs-server on port keeping its objects under data.
// Its -public-host is the bare loopback host: the server answers the Go
// client's reads (GET /BUCKET/OBJECT, the XML path walship's gcs store
// reads by) only for requests to its public host, and a public host
// without a port matches any port of that host, so reads through a run's
// Toxiproxy proxy, whose Host header names the proxy, are served.
func newFakeGCS(env Env, data string, port int) *Server {
	return &Server{Name: "fake-gcs-server", Bin: env.GCSBin, Addr: "127.0.0.1:" + strconv.Itoa(port), Ready: "/_internal/healthcheck",
		Data: data, Pidfile: env.Pidfile,
		Args: []string{"-scheme", "http", "-host", "127.0.0.1", "-port", strconv.Itoa(port), "-public-host", "127.0.0.1",
			"-backend", "filesystem", "-filesystem-root", data, "-log-level", "error"}}
}

// newGCSClient reaches the emulator at addr directly (not through
// Toxiproxy), reading by the JSON API, which it serves on any host.
func newGCSClient(ctx context.Context, addr string) (*storage.Client, error) {
	return storage.NewClient(ctx, option.WithEndpoint("http://"+addr+"/storage/v1/"), option.WithoutAuthentication(),
		storage.WithJSONReads(), storage.WithDisabledClientMetrics())
}

// gcsBucket is the bucket of a run's GCS store: one per run, because the
// emulator's filesystem backend walks a whole bucket for every listing.
func gcsBucket(nonce, prefix string) string {
	return strings.ToLower("faultcheck-" + nonce + "-" + prefix)
}

type gcsObjects struct {
	b      *storage.BucketHandle
	prefix string
}

func (g gcsObjects) list(ctx context.Context, prefix string, fn func(string) error) error {
	it := g.b.Objects(ctx, &storage.Query{Prefix: g.prefix + prefix})
	for {
		a, err := it.Next()
		if errors.Is(err, iterator.Done) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("list %s: %w", g.prefix+prefix, err)
		}
		if err := fn(strings.TrimPrefix(a.Name, g.prefix)); err != nil {
			return err
		}
	}
}

func (g gcsObjects) read(ctx context.Context, key string, n int64) ([]byte, error) {
	o, err := g.b.Object(g.prefix+key).NewRangeReader(ctx, 0, max(n, -1))
	if err != nil {
		return nil, fmt.Errorf("get %s: %w", key, err)
	}
	defer o.Close()
	return readUpTo(o, n)
}
