package demo

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// The demo's database: a tiny key-value store whose WAL entries are
// mutations. An entry is
//
//	be64 unix-ns time | JSON {"op":"set"|"del","k":KEY,"v":VALUE}
//
// Its data dir holds the state as buckets files "bucket-NN" of sorted
// "key=value" lines; a checkpoint is a copy of it in a directory of its own,
// named with the last entry it contains. It answers walship's
// snapshot.command through "latest.json" ({"dir": ..., "index": N}), which
// it rewrites after each checkpoint.

const kvBuckets = 16

type mutation struct {
	Op string `json:"op"`
	K  string `json:"k"`
	V  string `json:"v,omitempty"`
}

func encodeMutation(ns int64, m mutation) []byte {
	b, _ := json.Marshal(m)
	return append(binary.BigEndian.AppendUint64(nil, uint64(ns)), b...)
}

func decodeMutation(e []byte) (mutation, error) {
	var m mutation
	if len(e) < 8 {
		return m, fmt.Errorf("entry of %d bytes has no timestamp", len(e))
	}
	if err := json.Unmarshal(e[8:], &m); err != nil {
		return m, fmt.Errorf("entry is not a mutation: %w", err)
	}
	return m, nil
}

// kvState is the store's contents.
type kvState map[string]string

func (s kvState) apply(e []byte) error {
	m, err := decodeMutation(e)
	if err != nil {
		return err
	}
	switch m.Op {
	case "set":
		s[m.K] = m.V
	case "del":
		delete(s, m.K)
	default:
		return fmt.Errorf("unknown op %q", m.Op)
	}
	return nil
}

func bucketOf(k string) int {
	h := fnv.New32a()
	h.Write([]byte(k))
	return int(h.Sum32() % kvBuckets)
}

// writeDir writes the state as bucket files into dir.
func (s kvState) writeDir(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var buckets [kvBuckets][]string
	for k, v := range s {
		i := bucketOf(k)
		buckets[i] = append(buckets[i], k+"="+v)
	}
	for i, lines := range buckets {
		slices.Sort(lines)
		body := strings.Join(lines, "\n")
		if len(lines) > 0 {
			body += "\n"
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("bucket-%02d", i)), []byte(body), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// readDir loads a state written by writeDir.
func readDir(dir string) (kvState, error) {
	s := kvState{}
	for i := 0; i < kvBuckets; i++ {
		f, err := os.Open(filepath.Join(dir, fmt.Sprintf("bucket-%02d", i)))
		if err != nil {
			return nil, err
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			k, v, ok := strings.Cut(sc.Text(), "=")
			if !ok {
				f.Close()
				return nil, fmt.Errorf("bad line %q in %s", sc.Text(), f.Name())
			}
			s[k] = v
		}
		f.Close()
		if err := sc.Err(); err != nil {
			return nil, err
		}
	}
	return s, nil
}

func (s kvState) equal(o kvState) bool { return maps.Equal(s, o) }

// checkpoint writes the state holding entries up to index into
// root/checkpoints/<index> and points latest.json at it.
func (s kvState) checkpoint(root string, index uint64) error {
	dir := filepath.Join(root, "checkpoints", fmt.Sprintf("%020d", index))
	if err := s.writeDir(dir); err != nil {
		return err
	}
	b, _ := json.Marshal(map[string]any{"dir": dir, "index": index})
	tmp := filepath.Join(root, "latest.json.tmp")
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(root, "latest.json"))
}
