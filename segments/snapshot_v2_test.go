package segments

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/walship/walship/crypt"
)

func TestSnapshotV2(t *testing.T) {
	idA, rA := newIdentity(t)
	idB, rB := newIdentity(t)
	idC, _ := newIdentity(t)
	secret := crypt.SecretID{1, 2, 3, 4, 5, 6, 7, 8}
	m := fuzzManifest()
	m.Source.Detail = "detail-marker"
	b, err := EncodeSnapshotFor(m, secret, []*crypt.Recipient{rA, rB})
	if err != nil {
		t.Fatal(err)
	}
	for _, leak := range []string{`"d/f"`, "detail-marker", m.Files[1].SHA256.String(), `"target"`} {
		if bytes.Contains(b, []byte(leak)) {
			t.Fatalf("%s readable in the encrypted manifest", leak)
		}
	}
	for _, id := range []*crypt.Identity{idA, idB} {
		got, info, err := DecodeSnapshotWith(b, []*crypt.Identity{id})
		if err != nil || !info.Opened || got.Encryption == nil || !got.Opened() || got.Encryption.SecretID != secret {
			t.Fatalf("open: %+v %v", info, err)
		}
		got.Encryption = nil
		if !reflect.DeepEqual(got, m) {
			t.Fatalf("opened manifest %+v, want %+v", got, m)
		}
	}
	// Without an identity: the clear part, usable by prune and planning.
	clear, err := DecodeSnapshot(b)
	if err != nil {
		t.Fatal(err)
	}
	want := fileChunks(m.Files)
	if clear.Opened() || clear.Files != nil || clear.Name() != m.Name() || clear.TotalSize != m.TotalSize ||
		clear.ChunkSize != m.ChunkSize || !clear.Time.Equal(m.Time) || !slices.Equal(clear.ChunkRefs(), want) || len(want) != 2 {
		t.Fatalf("clear part: %+v refs %v, want refs %v", clear, clear.ChunkRefs(), want)
	}
	if clear.Encryption.SecretID != secret || len(clear.Encryption.Recipients) != 2 {
		t.Fatalf("clear encryption: %+v", clear.Encryption)
	}
	if _, _, err := DecodeSnapshotWith(b, []*crypt.Identity{idC}); !errors.Is(err, crypt.ErrNoIdentity) {
		t.Fatalf("third identity: %v", err)
	}
	// A plain manifest stays version 1.
	p, err := EncodeSnapshotFor(m, secret, nil)
	if err != nil {
		t.Fatal(err)
	}
	if v, _, err := openRecord(snapshotFormat, p); err != nil || v != SnapshotVersion1 {
		t.Fatalf("plain: version %d, %v", v, err)
	}
}

// A clear part that differs from the sealed manifest (its SHA-256 redone)
// is refused by a reader that opens it; one that breaks the clear rules
// is refused by every reader.
func TestSnapshotV2ClearForged(t *testing.T) {
	id, r := newIdentity(t)
	m := fuzzManifest()
	b, err := EncodeSnapshotFor(m, crypt.SecretID{9}, []*crypt.Recipient{r})
	if err != nil {
		t.Fatal(err)
	}
	forge := func(edit func(c map[string]any)) []byte {
		_, body, err := openRecord(snapshotFormat, b)
		if err != nil {
			t.Fatal(err)
		}
		var sb sealedBody
		if err := json.Unmarshal(body, &sb); err != nil {
			t.Fatal(err)
		}
		var c map[string]any
		if err := json.Unmarshal(sb.Clear, &c); err != nil {
			t.Fatal(err)
		}
		edit(c)
		if sb.Clear, err = json.Marshal(c); err != nil {
			t.Fatal(err)
		}
		out, err := sealRecord(snapshotFormat, RecordVersion2, sb)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	dropChunk := forge(func(c map[string]any) { c["chunks"] = c["chunks"].([]any)[:1] })
	if _, err := DecodeSnapshot(dropChunk); err != nil {
		t.Fatalf("a well-formed clear part is taken without a key: %v", err)
	}
	if _, _, err := DecodeSnapshotWith(dropChunk, []*crypt.Identity{id}); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "differs") {
		t.Fatalf("a chunk left out of the clear list: %v, want ErrCorrupt", err)
	}
	otherSecret := forge(func(c map[string]any) { c["secret_id"] = "0000000000000001" })
	if _, _, err := DecodeSnapshotWith(otherSecret, []*crypt.Identity{id}); err != nil {
		t.Fatalf("the secret id is the clear part's own (checked by the chunk names): %v", err)
	}
	for name, edit := range map[string]func(c map[string]any){
		"unsorted": func(c map[string]any) { l := c["chunks"].([]any); l[0], l[1] = l[1], l[0] },
		"repeated": func(c map[string]any) { l := c["chunks"].([]any); l[1] = l[0] },
		"no list":  func(c map[string]any) { delete(c, "chunks") },
		"bad id":   func(c map[string]any) { c["id"] = "x" },
		"timeline": func(c map[string]any) { c["timeline"] = 0 },
		"extra":    func(c map[string]any) { c["path"] = "d/f" },
	} {
		if _, err := DecodeSnapshot(forge(edit)); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: %v, want ErrCorrupt", name, err)
		}
	}
}

// FuzzSnapshotV2 fuzzes the body of an encrypted manifest record (inside a
// valid envelope, so the fuzzer reaches the clear part and the sealed
// manifest): decoding with and without the fixed identity never panics,
// fails with ErrCorrupt, ErrUnknownVersion or crypt.ErrNoIdentity, and
// what opens validates and agrees with its clear part.
func FuzzSnapshotV2(f *testing.F) {
	id, r := fixedIdentity(f)
	_, other := newIdentity(f)
	for _, rs := range [][]*crypt.Recipient{{r}, {r, other}, {other}} {
		b, err := EncodeSnapshotFor(fuzzManifest(), crypt.SecretID{7}, rs)
		if err != nil {
			f.Fatal(err)
		}
		_, body, err := openRecord(snapshotFormat, b)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(body)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		rec, err := sealRecord(snapshotFormat, RecordVersion2, json.RawMessage(body))
		if err != nil {
			return // not JSON: the envelope cannot hold it
		}
		for _, ids := range [][]*crypt.Identity{nil, {id}} {
			m, info, err := DecodeSnapshotWith(rec, ids)
			if err != nil {
				if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrUnknownVersion) && !errors.Is(err, crypt.ErrNoIdentity) {
					t.Fatalf("error %v is none of ErrCorrupt, ErrUnknownVersion, ErrNoIdentity", err)
				}
				continue
			}
			if m.Encryption == nil || info.Opened != m.Opened() {
				t.Fatalf("decoded without its encryption info: %+v %+v", m.Encryption, info)
			}
			refs := m.ChunkRefs()
			if !slices.IsSortedFunc(refs, func(a, b Digest) int { return bytes.Compare(a[:], b[:]) }) || len(slices.Compact(slices.Clone(refs))) != len(refs) {
				t.Fatalf("chunk refs not sorted and unique: %v", refs)
			}
			if m.Opened() {
				if err := m.Validate(); err != nil {
					t.Fatalf("opened manifest does not validate: %v", err)
				}
				if !slices.Equal(refs, m.Encryption.Chunks) {
					t.Fatalf("files' chunks %v, clear list %v", refs, m.Encryption.Chunks)
				}
			}
		}
	})
}
