package throttle

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"
)

func TestReaderPaysDownloadInChunks(t *testing.T) {
	const n = 3<<20 + 7
	store, sclk := frozen(t, Config{DownloadBytesPerSec: 1 << 30})
	global, gclk := frozen(t, Config{UploadBytesPerSec: 1024}) // uploads only: downloads pass
	src := &sizeRecorder{ReadSeeker: bytes.NewReader(make([]byte, n))}
	ctx := WithPriority(context.Background(), Low)
	within(t, "read", func() {
		got, err := io.Copy(io.Discard, Reader(ctx, src, nil, store, global))
		if err != nil || got != n {
			t.Errorf("copied %d, %v", got, err)
		}
	})
	if src.max > MaxChunk {
		t.Errorf("read of %d bytes, want at most %d", src.max, MaxChunk)
	}
	if got := spent(store.download, sclk); got != n {
		t.Errorf("download tokens %d, want %d", got, n)
	}
	if got := store.Stats().Download.Low.N; got != n {
		t.Errorf("Stats download low N %d, want %d", got, n)
	}
	if got := spent(global.upload, gclk); got != 0 {
		t.Errorf("a download spent %d upload tokens", got)
	}
	if got := global.Stats().Download.Low.N; got != n {
		t.Errorf("global counted %d download bytes, want %d (unlimited still counts)", got, n)
	}
}

func TestReaderCancelledWhileWaiting(t *testing.T) {
	clk := newFakeClock()
	l, err := newLimiter(Config{DownloadBytesPerSec: 1024}, clk)
	if err != nil {
		t.Fatal(err)
	}
	enq := make(chan Priority, 8)
	l.download.onEnqueue = func(p Priority, _ int) { enq <- p }
	ctx, cancel := context.WithCancel(context.Background())
	r := Reader(ctx, bytes.NewReader(make([]byte, 4096)), l)
	buf := make([]byte, 4096)
	if n, err := r.Read(buf); n != 1024 || err != nil {
		t.Fatalf("first read %d %v, want one 1 KiB chunk", n, err)
	}
	type res struct {
		n   int
		err error
	}
	done := make(chan res, 1)
	go func() { n, err := r.Read(buf); done <- res{n, err} }()
	recv(t, "second read queued", enq)
	cancel()
	got := recv(t, "read returning", done)
	if got.n != 0 || !errors.Is(got.err, context.Canceled) {
		t.Fatalf("read after cancel: %d %v", got.n, got.err)
	}
	if st := l.Stats().Download.High; st.N != 1024 {
		t.Fatalf("counted %d bytes, want 1024 (the dropped chunk is not counted)", st.N)
	}
}
