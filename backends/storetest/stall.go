package storetest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/walship/walship/backends"
	"github.com/walship/walship/backends/deadline"
)

// StallingProxy starts a TCP proxy to target (host:port) that passes the
// first after bytes a client sends on each connection, and then neither
// passes nor answers anything more: a server that took part of an upload
// and hung. It returns the proxy's host:port and a func that drops every
// connection it holds (the client gave up; the server sees them reset).
func StallingProxy(t testing.TB, target string, after int64) (string, func()) {
	t.Helper()
	return serveConns(t, func(c net.Conn, track func(net.Conn)) {
		s, err := net.Dial("tcp", target)
		if err != nil {
			c.Close()
			return
		}
		track(s)
		go io.Copy(c, s) // answers, until the server has none to give
		io.CopyN(s, c, after)
		io.Copy(io.Discard, c) // the rest is swallowed: the server waits for it
	})
}

// BlackHole accepts TCP connections and never answers: what a frozen
// server (SIGSTOP) or a black-holed network looks like to a client that
// got in. It returns its host:port.
func BlackHole(t testing.TB) string {
	t.Helper()
	addr, _ := serveConns(t, func(c net.Conn, _ func(net.Conn)) {
		io.Copy(io.Discard, c) // read the request, answer nothing
	})
	return addr
}

// serveConns listens on a loopback port and runs handle on each connection
// in its own goroutine. Every connection (and any handle tracks) is closed
// by the returned func and at the test's end.
func serveConns(t testing.TB, handle func(c net.Conn, track func(net.Conn))) (string, func()) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	track := func(c net.Conn) { mu.Lock(); conns = append(conns, c); mu.Unlock() }
	drop := func() {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
		conns = nil
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			track(c)
			go handle(c, track)
		}
	}()
	t.Cleanup(func() { ln.Close(); <-done; drop() })
	return ln.Addr().String(), drop
}

// RunStalledPut puts an uncompressed segment's worth of bytes (17 MiB, one
// streamed request) through stalled, a store whose server hangs after
// taking half of it (a StallingProxy; drop ends its connections), bounded
// by the deadline decorator: the Put must fail with deadline.ErrTimeout
// within a few seconds, and once the dead connections are gone direct,
// the same bucket reached without the proxy, must hold no object under the
// key. (Until then MinIO holds the key's lock: a Stat waits about 30 s.)
func RunStalledPut(t *testing.T, stalled, direct backends.Store, drop func()) {
	t.Helper()
	big := RandBytes(t, 17<<20+100)
	st := deadline.New(stalled, deadline.Options{Op: time.Second, Tick: 50 * time.Millisecond})
	start := time.Now()
	err := st.Put(context.Background(), "seg/stalled", FileBody(t, big), int64(len(big)))
	if !errors.Is(err, deadline.ErrTimeout) {
		t.Fatalf("put to a server that hung halfway: %v, want ErrTimeout", err)
	}
	if d := time.Since(start); d > 15*time.Second {
		t.Fatalf("the stalled put gave up after %s", d)
	}
	drop()
	if _, err := direct.Stat(context.Background(), "seg/stalled"); !backends.IsNotFound(err) {
		t.Fatalf("after a put that stalled: stat says %v, want not found (nothing half-written)", err)
	}
	// The same bytes through the real server: one whole object.
	if err := direct.Put(context.Background(), "seg/stalled", bytes.NewReader(big), int64(len(big))); err != nil {
		t.Fatal(err)
	}
	if got := ReadAll(t, direct, "seg/stalled"); !bytes.Equal(got, big) {
		t.Fatal("the object put afterwards reads back different")
	}
}
