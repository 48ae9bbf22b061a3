package segments_test

import (
	"bytes"
	"encoding/base64"
	"testing"

	"github.com/walship/walship/segments"
)

// Golden objects written by walship's chunk v1 and snapshot manifest v1
// code. Every later walship must read them: never edit them; a new version
// adds its own beside them.
const (
	goldenChunkV1Digest = "5b6e5d5d0a907802e225d298f662649b4f23464f7e1bb076f80e6424ec016420"
	goldenChunkV1       = "V1NIUENISwAAAQEAAAAAAAAAA8AAAAAAAAAAML3stRIotS/9RADAAg0BAIQBd2Fsc2hpcCBnb2xkZW4gY2h1bmsgdjEKAVQUBC2U3rdTNJk="
	goldenManifestV1    = `{"format":"walship.snapshot","version":1,"body":{"id":"00c0ffee00c0ffee","timeline":1,"index":300,"time":"2026-01-02T03:04:05Z","source":{"method":"freeze","detail":"golden"},"chunk_size":1024,"total_size":960,"root_mode":448,"files":[{"path":"d","type":"dir","mode":493},{"path":"d/f","type":"file","mode":420,"size":960,"sha256":"5b6e5d5d0a907802e225d298f662649b4f23464f7e1bb076f80e6424ec016420","chunks":["5b6e5d5d0a907802e225d298f662649b4f23464f7e1bb076f80e6424ec016420"]},{"path":"l","type":"symlink","target":"d/f"}]},"sha256":"ebd5368f3fb86f14f0a19caba62730473c8092b1ebd17671139e6f651f4a4cb3"}` + "\n"
)

func TestGoldenSnapshotV1Reads(t *testing.T) {
	d, err := segments.ParseDigest(goldenChunkV1Digest)
	if err != nil {
		t.Fatal(err)
	}
	obj, err := base64.StdEncoding.DecodeString(goldenChunkV1)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := segments.DecodeChunk(obj, d)
	if err != nil {
		t.Fatal(err)
	}
	if want := bytes.Repeat([]byte("walship golden chunk v1\n"), 40); !bytes.Equal(raw, want) {
		t.Fatalf("golden chunk decodes to %q", raw)
	}
	if segments.Codec(obj[10]) != segments.CodecZstd {
		t.Fatal("the golden chunk should exercise zstd")
	}
	m, err := segments.DecodeSnapshot([]byte(goldenManifestV1))
	if err != nil {
		t.Fatal(err)
	}
	if m.Key() != "snapshots/00000001/00000000000000000300-00c0ffee00c0ffee.json" || len(m.Files) != 3 ||
		m.Files[1].Chunks[0] != d || m.Files[1].SHA256 != d || m.Files[2].Target != "d/f" || m.RootMode != 0o700 ||
		m.Source.Method != segments.MethodFreeze {
		t.Fatalf("golden manifest decodes to %+v", m)
	}
}
