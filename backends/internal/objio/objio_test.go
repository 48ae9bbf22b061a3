package objio

import (
	"bytes"
	"context"
	"crypto/md5"
	"errors"
	"io"
	"testing"
)

func TestSizedReader(t *testing.T) {
	data := []byte("0123456789")
	// Exact body: reads all, EOF, Seek(0, End) reports size.
	r := NewSizedReader(bytes.NewReader(data), 10)
	if n, _ := r.Seek(0, io.SeekEnd); n != 10 {
		t.Fatalf("seek end = %d", n)
	}
	r.Seek(0, io.SeekStart)
	if got, err := io.ReadAll(r); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read = %q, %v", got, err)
	}
	// Longer body: only size bytes come out.
	r = NewSizedReader(bytes.NewReader(data), 4)
	if got, err := io.ReadAll(r); err != nil || string(got) != "0123" {
		t.Fatalf("limited read = %q, %v", got, err)
	}
	// Short body: an unexpected EOF that says so.
	r = NewSizedReader(bytes.NewReader(data), 20)
	if _, err := io.ReadAll(r); !errors.Is(err, io.ErrUnexpectedEOF) || !errors.Is(err, ErrShortBody) {
		t.Fatalf("short read err = %v", err)
	}
	if _, err := r.Seek(21, io.SeekStart); err == nil {
		t.Fatal("seek past size succeeded")
	}
}

func TestSizedReaderAt(t *testing.T) {
	data := []byte("0123456789")
	ra := Body(bytes.NewReader(data), 10).(io.ReaderAt)
	p := make([]byte, 4)
	if n, err := ra.ReadAt(p, 8); n != 2 || !errors.Is(err, io.EOF) || string(p[:n]) != "89" {
		t.Fatalf("ReadAt tail = %d %v %q", n, err, p[:n])
	}
	short := Body(bytes.NewReader(data), 12).(io.ReaderAt)
	if _, err := short.ReadAt(make([]byte, 4), 8); !errors.Is(err, ErrShortBody) {
		t.Fatalf("short ReadAt err = %v", err)
	}
	if _, ok := Body(struct{ io.ReadSeeker }{bytes.NewReader(data)}, 10).(io.ReaderAt); ok {
		t.Fatal("Body added ReadAt to a reader without it")
	}
}

func TestCheckedMD5(t *testing.T) {
	data := []byte("hello world")
	r := bytes.NewReader(data)
	sum, err := CheckedMD5(context.Background(), r, int64(len(data)))
	want := md5.Sum(data)
	if err != nil || !bytes.Equal(sum, want[:]) || r.Len() != len(data) {
		t.Fatalf("CheckedMD5 = %x, %v (left %d unread)", sum, err, r.Len())
	}
	for _, size := range []int64{5, 20} {
		if _, err := CheckedMD5(context.Background(), bytes.NewReader(data), size); !errors.Is(err, ErrShortBody) {
			t.Fatalf("size %d: err = %v, want ErrShortBody", size, err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := CheckedMD5(ctx, bytes.NewReader(data), 11); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: err = %v", err)
	}
	if err := CheckLen(bytes.NewReader(data), 11); err != nil {
		t.Fatal(err)
	}
	if err := CheckLen(bytes.NewReader(data), 12); !errors.Is(err, ErrShortBody) {
		t.Fatalf("CheckLen short: %v", err)
	}
}

func TestReword(t *testing.T) {
	base := errors.New("multi\nline")
	err := Reword("one line", base)
	if err.Error() != "one line" || !errors.Is(err, base) {
		t.Fatalf("Reword = %q, Is=%v", err, errors.Is(err, base))
	}
	if NormPrefix("/a/b/") != "a/b/" || NormPrefix("") != "" || NormPrefix("/") != "" {
		t.Fatal("NormPrefix")
	}
}
