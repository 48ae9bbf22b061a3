package objio

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"errors"
	"hash/crc32"
	"strings"
	"testing"
)

func TestCheckedDigests(t *testing.T) {
	data := []byte("hello world")
	r := bytes.NewReader(data)
	crc, err := Checked(context.Background(), r, int64(len(data)), false)
	want := crc32.Checksum(data, crc32.MakeTable(crc32.Castagnoli))
	if err != nil || crc != base64.StdEncoding.EncodeToString([]byte{byte(want >> 24), byte(want >> 16), byte(want >> 8), byte(want)}) || r.Len() != len(data) {
		t.Fatalf("Checked CRC32C = %s, %v (left %d unread), want %08x", crc, err, r.Len(), want)
	}
	if crc != "yZRlqg==" { // base64 of c99465aa, the known CRC32C of "hello world"
		t.Fatalf("Checked CRC32C = %s", crc)
	}
	if n, err := CheckedCRC32C(context.Background(), r, int64(len(data))); err != nil || n != 0xc99465aa || r.Len() != len(data) {
		t.Fatalf("CheckedCRC32C = %08x, %v (left %d unread)", n, err, r.Len())
	}
	sum, err := Checked(context.Background(), r, int64(len(data)), true)
	m := md5.Sum(data)
	if err != nil || sum != base64.StdEncoding.EncodeToString(m[:]) {
		t.Fatalf("Checked MD5 = %s, %v", sum, err)
	}
	if _, err := Checked(context.Background(), bytes.NewReader(data), 12, false); !errors.Is(err, ErrShortBody) {
		t.Fatalf("short body: %v", err)
	}
}

// The first answer without the CRC32C switches the mode to MD5 for good and
// fails that Put (a probe's put learns the mode without failing); a
// different CRC32C fails it without switching.
func TestDigestModeConfirm(t *testing.T) {
	var d DigestMode
	if d.MD5() {
		t.Fatal("new mode is MD5")
	}
	if err := d.Confirm("s", "k", "abc=", "abc=", false); err != nil || d.MD5() {
		t.Fatalf("confirmed: %v, md5 %v", err, d.MD5())
	}
	if err := d.Confirm("s", "k", "abc=", "xyz=", false); err == nil || !strings.Contains(err.Error(), "xyz=") || d.MD5() {
		t.Fatalf("other CRC: %v, md5 %v", err, d.MD5())
	}
	if err := d.Confirm("s", "k", "abc=", "", false); err == nil || !d.MD5() {
		t.Fatalf("no CRC in the answer: %v, md5 %v", err, d.MD5())
	}
	var p DigestMode
	if err := p.Confirm("s", "probe/x", "abc=", "", true); err != nil || !p.MD5() {
		t.Fatalf("no CRC in the answer to a probe: %v, md5 %v", err, p.MD5())
	}
}
