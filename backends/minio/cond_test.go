package minio_test

import (
	"strings"
	"testing"

	"github.com/walship/walship/backends"
	"github.com/walship/walship/backends/deadline"
	"github.com/walship/walship/backends/internal/objio"
	"github.com/walship/walship/backends/minio"
	"github.com/walship/walship/backends/storetest"
	"github.com/walship/walship/throttle"
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

// A body that changes after Put computed its digest is refused by the
// server and leaves no object, whichever digest the Put carries (the
// CRC32C is computed before the upload, not by minio-go as it streams).
func TestDigestVerified(t *testing.T) {
	srv, bucket := testServer(t)
	for _, md5 := range []bool{false, true} {
		st := newStore(t, srv, minio.Options{Bucket: bucket, Prefix: storetest.RandomName("t-"), Region: "us-east-1"})
		if md5 {
			minio.UseMD5(st)
		}
		storetest.RunChangedBodyRefused(t, st)
		if !md5 && minio.DigestMD5(st) {
			t.Fatal("MinIO's answers did not confirm the CRC32C")
		}
	}
}

// A server whose answers do not confirm the CRC32C: the store falls back
// to Content-MD5 and loses nothing.
func TestUnconfirmedDigestFallsBack(t *testing.T) {
	srv, bucket := testServer(t)
	addr := storetest.ChecksumHidingProxy(t, "http://"+srv.endpoint)
	storetest.RunUnconfirmedDigest(t, func(t *testing.T) backends.Store {
		return newStore(t, server{addr, srv.access, srv.secret}, minio.Options{Bucket: bucket, Prefix: storetest.RandomName("t-"), Region: "us-east-1"})
	}, func(st backends.Store) { minio.SkipStat(st.(*minio.Store)) }, func(st backends.Store) bool { return minio.DigestMD5(st.(*minio.Store)) })
}

// Through a throttle, a single PUT pays for its body once: the digest pass
// reads the local body.
func TestUploadPaidOnce(t *testing.T) {
	srv, bucket := testServer(t)
	st := newStore(t, srv, minio.Options{Bucket: bucket, Prefix: storetest.RandomName("t-"), Region: "us-east-1"})
	minio.SkipStat(st)
	lim, err := throttle.New(throttle.Config{UploadBytesPerSec: 1 << 30})
	if err != nil {
		t.Fatal(err)
	}
	storetest.RunPaidOnce(t, throttle.NewStore(deadline.New(st, deadline.Options{}), lim, nil),
		func() int64 { return lim.Stats().Upload.Total().N })
}
