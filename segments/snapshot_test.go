package segments_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/walship/walship/segments"
)

func sampleManifest() segments.SnapshotManifest {
	c1 := segments.DigestOf([]byte("chunk one"))
	c2 := segments.DigestOf([]byte("chunk two"))
	return segments.SnapshotManifest{
		ID:        "0123456789abcdef",
		Timeline:  2,
		Index:     4711,
		Time:      time.Date(2026, 1, 2, 3, 4, 5, 123000000, time.UTC),
		Source:    segments.SnapshotSource{Method: segments.MethodFreeze, Detail: "/var/lib/db"},
		ChunkSize: 4,
		TotalSize: 9,
		RootMode:  0o700,
		Files: []segments.SnapshotFile{
			{Path: "base", Type: segments.TypeDir, Mode: 0o755},
			{Path: "base/1", Type: segments.TypeFile, Mode: 0o644, Size: 8, SHA256: segments.DigestOf([]byte("12345678")), Chunks: []segments.Digest{c1, c2}},
			{Path: "base/empty", Type: segments.TypeFile, Mode: 0o600, SHA256: segments.DigestOf(nil)},
			{Path: "base/sub", Type: segments.TypeDir, Mode: 0o500},
			{Path: "base/sub/x", Type: segments.TypeFile, Mode: 0o400, Size: 1, SHA256: segments.DigestOf([]byte("x")), Chunks: []segments.Digest{c1}},
			{Path: "current", Type: segments.TypeSymlink, Target: "base/1"},
			{Path: "base/sub/up", Type: segments.TypeSymlink, Target: "../../current"},
			{Path: "base/dot", Type: segments.TypeSymlink, Target: "./sub//x"},
		},
	}
}

func TestSnapshotManifestRoundTrip(t *testing.T) {
	m := sampleManifest()
	b, err := segments.EncodeSnapshot(m)
	if err != nil {
		t.Fatal(err)
	}
	got, err := segments.DecodeSnapshot(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, m) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", got, m)
	}
	if !bytes.Contains(b, []byte(`"format":"walship.snapshot","version":1`)) {
		t.Fatalf("envelope: %s", b)
	}
	if m.Key() != "snapshots/00000002/00000000000000004711-0123456789abcdef.json" {
		t.Fatalf("key %s", m.Key())
	}
	// An empty snapshot encodes "files":[] and decodes.
	e := m
	e.Files, e.TotalSize = nil, 0
	b, err = segments.EncodeSnapshot(e)
	if err != nil || !bytes.Contains(b, []byte(`"files":[]`)) {
		t.Fatalf("empty snapshot: %s %v", b, err)
	}
	if _, err := segments.DecodeSnapshot(b); err != nil {
		t.Fatal(err)
	}
}

// reseal wraps body in a valid envelope of the given version, as a hostile
// writer would: the checksum passes, so only validation stands in the way.
func reseal(t *testing.T, version int, body []byte) []byte {
	t.Helper()
	sum := sha256.Sum256(body)
	b, err := json.Marshal(map[string]any{"format": "walship.snapshot", "version": version,
		"body": json.RawMessage(body), "sha256": hex.EncodeToString(sum[:])})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSnapshotManifestRefusesHostile(t *testing.T) {
	file := func(p string) segments.SnapshotFile {
		return segments.SnapshotFile{Path: p, Type: segments.TypeFile, Mode: 0o644, SHA256: segments.DigestOf(nil)}
	}
	dir := func(p string) segments.SnapshotFile {
		return segments.SnapshotFile{Path: p, Type: segments.TypeDir, Mode: 0o755}
	}
	link := func(p, target string) segments.SnapshotFile {
		return segments.SnapshotFile{Path: p, Type: segments.TypeSymlink, Target: target}
	}
	cases := []struct {
		name  string
		files []segments.SnapshotFile
		edit  func(*segments.SnapshotManifest)
		msg   string
	}{
		{"dot dot", []segments.SnapshotFile{file("../x")}, nil, "'..' segment"},
		{"absolute", []segments.SnapshotFile{file("/etc/x")}, nil, "absolute"},
		{"climb in the middle", []segments.SnapshotFile{dir("a"), file("a/../../x")}, nil, "'..' segment"},
		{"dot", []segments.SnapshotFile{file(".")}, nil, "'.' or '..'"},
		{"dot segment", []segments.SnapshotFile{dir("a"), file("a/./x")}, nil, "'.' or '..'"},
		{"double slash", []segments.SnapshotFile{dir("a"), file("a//x")}, nil, "empty"},
		{"trailing slash", []segments.SnapshotFile{dir("a/")}, nil, "empty"},
		{"NUL", []segments.SnapshotFile{file("a\x00b")}, nil, "NUL"},
		{"bad UTF-8", []segments.SnapshotFile{file("a\xffb")}, nil, "UTF-8"},
		{"duplicate", []segments.SnapshotFile{file("x"), file("x")}, nil, "listed twice"},
		{"duplicate dir", []segments.SnapshotFile{dir("x"), dir("x")}, nil, "listed twice"},
		{"file through symlink", []segments.SnapshotFile{link("s", "d"), dir("d"), file("s/passwd")}, nil, "not a directory"},
		{"escaping symlink then file through it", []segments.SnapshotFile{link("s", "../../etc"), file("s/passwd")}, nil, "climbs out"},
		{"parent missing", []segments.SnapshotFile{file("a/x")}, nil, "not a directory listed before"},
		{"parent after child", []segments.SnapshotFile{file("a/x"), dir("a")}, nil, "not a directory listed before"},
		{"parent is a file", []segments.SnapshotFile{file("a"), file("a/x")}, nil, "not a directory"},
		{"absolute symlink", []segments.SnapshotFile{link("s", "/etc")}, nil, "absolute"},
		{"symlink climbs out", []segments.SnapshotFile{dir("a"), link("a/s", "../../x")}, nil, "climbs out"},
		{"symlink dot dot after a name", []segments.SnapshotFile{dir("d"), link("d/l", ".."), link("s", "d/l/..")}, nil, "after a name"},
		{"empty symlink", []segments.SnapshotFile{link("s", "")}, nil, "empty"},
		{"unknown type", []segments.SnapshotFile{{Path: "x", Type: "fifo"}}, nil, "unknown type"},
		{"mode bits", []segments.SnapshotFile{{Path: "x", Type: segments.TypeDir, Mode: 0o4755}}, nil, "permission bits"},
		{"chunk count", []segments.SnapshotFile{{Path: "x", Type: segments.TypeFile, Size: 5, SHA256: segments.DigestOf(nil)}}, nil, "chunks for 5 bytes"},
		{"negative size", []segments.SnapshotFile{{Path: "x", Type: segments.TypeFile, Size: -1, SHA256: segments.DigestOf(nil)}}, nil, "size -1"},
		{"dir with size", []segments.SnapshotFile{{Path: "x", Type: segments.TypeDir, Size: 1}}, nil, "no size"},
		{"file without hash", []segments.SnapshotFile{{Path: "x", Type: segments.TypeFile}}, nil, "SHA-256"},
		{"total size", nil, func(m *segments.SnapshotManifest) { m.TotalSize = 1 }, "add up"},
		{"timeline 0", nil, func(m *segments.SnapshotManifest) { m.Timeline = 0 }, "timeline 0"},
		{"bad id", nil, func(m *segments.SnapshotManifest) { m.ID = "../../x" }, "snapshot id"},
		{"chunk size", nil, func(m *segments.SnapshotManifest) { m.ChunkSize = segments.MaxChunkSize + 1 }, "chunk size"},
		{"method", nil, func(m *segments.SnapshotManifest) { m.Source.Method = "magic" }, "capture method"},
		{"root mode", nil, func(m *segments.SnapshotManifest) { m.RootMode = 0o1777 }, "root mode"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := segments.SnapshotManifest{ID: "0123456789abcdef", Timeline: 1, Index: 1, Time: time.Unix(1, 0).UTC(),
				Source: segments.SnapshotSource{Method: segments.MethodAPI}, ChunkSize: 4 << 20, Files: c.files}
			if c.edit != nil {
				c.edit(&m)
			}
			if err := m.Validate(); err == nil || !strings.Contains(err.Error(), c.msg) {
				t.Fatalf("Validate: %v, want an error containing %q", err, c.msg)
			}
			if _, err := segments.EncodeSnapshot(m); err == nil {
				t.Fatal("EncodeSnapshot accepted it")
			}
			if c.name == "bad UTF-8" {
				return // JSON cannot carry it: json.Marshal writes U+FFFD
			}
			body, err := json.Marshal(m)
			if err != nil {
				t.Fatal(err)
			}
			_, err = segments.DecodeSnapshot(reseal(t, 1, body))
			if !errors.Is(err, segments.ErrCorrupt) || !strings.Contains(err.Error(), c.msg) {
				t.Fatalf("DecodeSnapshot: %v, want ErrCorrupt containing %q", err, c.msg)
			}
		})
	}
}

func TestSnapshotManifestEnvelope(t *testing.T) {
	b, err := segments.EncodeSnapshot(sampleManifest())
	if err != nil {
		t.Fatal(err)
	}
	tampered := bytes.Replace(b, []byte(`4711`), []byte(`4712`), 1)
	if _, err := segments.DecodeSnapshot(tampered); !errors.Is(err, segments.ErrCorrupt) || !strings.Contains(err.Error(), "SHA-256") {
		t.Fatalf("tampered body: %v", err)
	}
	other := bytes.Replace(b, []byte(`walship.snapshot`), []byte(`walship.timeline`), 1)
	if _, err := segments.DecodeSnapshot(other); !errors.Is(err, segments.ErrCorrupt) {
		t.Fatalf("other format: %v", err)
	}
	body, _ := json.Marshal(sampleManifest())
	if _, err := segments.DecodeSnapshot(reseal(t, 3, body)); !errors.Is(err, segments.ErrUnknownVersion) {
		t.Fatalf("version 3: %v", err)
	}
	extra := bytes.Replace(body, []byte(`"id":`), []byte(`"surprise":1,"id":`), 1)
	if _, err := segments.DecodeSnapshot(reseal(t, 1, extra)); !errors.Is(err, segments.ErrCorrupt) || !strings.Contains(err.Error(), "surprise") {
		t.Fatalf("unknown field: %v", err)
	}
	badHash := bytes.Replace(body, []byte(`"chunks":["`), []byte(`"chunks":["Z`), 1)
	if _, err := segments.DecodeSnapshot(reseal(t, 1, badHash)); !errors.Is(err, segments.ErrCorrupt) {
		t.Fatalf("bad chunk digest: %v", err)
	}
}

func TestSnapshotKeys(t *testing.T) {
	n := segments.SnapshotName{Timeline: 0x1a, Index: 18446744073709551615, ID: "00ff00ff00ff00ff"}
	key := n.Key()
	if key != "snapshots/0000001a/18446744073709551615-00ff00ff00ff00ff.json" {
		t.Fatalf("key %s", key)
	}
	if got, err := segments.ParseSnapshotKey(key); err != nil || got != n {
		t.Fatalf("parse: %+v %v", got, err)
	}
	if got, err := segments.ParseSnapshotKey("snapshots/00000001/00000000000000000000-0123456789abcdef.json"); err != nil || got.Index != 0 {
		t.Fatalf("index 0: %+v %v", got, err)
	}
	for _, bad := range []string{
		"snapshots/0000001A/00000000000000000001-00ff00ff00ff00ff.json", // upper-case timeline
		"snapshots/00000000/00000000000000000001-00ff00ff00ff00ff.json", // timeline 0
		"snapshots/00000001/0000000000000000001-00ff00ff00ff00ff.json",  // 19 digits
		"snapshots/00000001/00000000000000000001-00FF00FF00FF00FF.json", // upper-case id
		"snapshots/00000001/00000000000000000001-00ff00ff00ff00f.json",  // short id
		"snapshots/00000001/00000000000000000001-00ff00ff00ff00ff.jsonx",
		"snapshots/00000001/00000000000000000001_00ff00ff00ff00ff.json",
		"snapshots/00000001/x/00000000000000000001-00ff00ff00ff00ff.json",
		"snapshots/00000001/99999999999999999999-00ff00ff00ff00ff.json", // overflows uint64
		"snapshots/00000001/-0000000000000000001-00ff00ff00ff00ff.json",
		"snapshots/00000001/+0000000000000000001-00ff00ff00ff00ff.json",
		"snapshot/00000001/00000000000000000001-00ff00ff00ff00ff.json",
		"snapshots/00000001/00000000000000000001-../../../etc.json",
	} {
		if _, err := segments.ParseSnapshotKey(bad); err == nil {
			t.Errorf("ParseSnapshotKey(%q) accepted", bad)
		}
	}
	if segments.SnapshotTimelinePrefix(3) != "snapshots/00000003/" {
		t.Fatal(segments.SnapshotTimelinePrefix(3))
	}
}

func TestSymlinkTargets(t *testing.T) {
	cases := []struct {
		link, target string
		ok           bool
	}{
		{"l", "x", true},
		{"l", "./x", true},
		{"l", "a//b/", true},
		{"l", ".", true},
		{"a/b/l", "../../x", true},
		{"a/b/l", "../../..", false},
		{"l", "..", false},
		{"l", "/x", false},
		{"a/l", "../a/../..", false},
		{"a/l", "x/../y", false},
		{"a/l", "..", true},
	}
	for _, c := range cases {
		err := segments.ValidSymlinkTarget(c.link, c.target)
		if (err == nil) != c.ok {
			t.Errorf("ValidSymlinkTarget(%q, %q) = %v, want ok=%v", c.link, c.target, err, c.ok)
		}
	}
}
