package minio_test

import (
	"strings"
	"testing"

	"github.com/walship/walship/backends/internal/objio"
	"github.com/walship/walship/backends/minio"
	"github.com/walship/walship/backends/storetest"
)

// A Put is one request: the first Put of a store also probes the server's
// conditional creates (two conditional PUTs and a DELETE under probe/,
// once), and an existing key is refused by the PUT itself.
func TestOnePutOneRequest(t *testing.T) {
	srv, bucket := testServer(t)
	proxy, reqs := storetest.CountingProxy(t, "http://"+srv.endpoint)
	st := newStore(t, server{strings.TrimPrefix(proxy, "http://"), srv.access, srv.secret},
		minio.Options{Bucket: bucket, Prefix: storetest.RandomName("t-"), Region: "us-east-1"})
	storetest.RunOnePutOneRequest(t, st, reqs)
	if m := minio.Cond(st); m != objio.CondHonoured {
		t.Fatalf("MinIO's conditions: %v, want honoured", m)
	}
}

// A server that hangs halfway through a streamed single PUT: the Put
// times out and no object appears.
func TestStalledPutLeavesNothing(t *testing.T) {
	srv, bucket := testServer(t)
	opt := minio.Options{Bucket: bucket, Prefix: storetest.RandomName("t-"), Region: "us-east-1"}
	direct := newStore(t, srv, opt)
	addr, drop := storetest.StallingProxy(t, srv.endpoint, 8<<20)
	stalled := newStore(t, server{addr, srv.access, srv.secret}, opt)
	storetest.RunStalledPut(t, stalled, direct, drop)
}
