package config

import (
	"testing"
)

// FuzzParse: no document makes Parse panic, and a document it accepts
// decodes the same way twice.
func FuzzParse(f *testing.F) {
	for _, seed := range []string{
		"",
		"seal: {size: 16MiB, interval: 1s}",
		"stores: [{name: a, url: 'file:///x', limits: {upload_bytes_per_sec: 1MiB}}]",
		"snapshot: {command: 'echo hi', release: [rm, -rf]}",
		"compaction: {enabled: false, levels: [1m, 1h]}",
		"a: &a {url: x}\nstores: [*a, {<<: *a}]",
		"seal: [",
		"source: {wal: ${HOME}/wal}",
		"just words",
		"? [a]\n: b",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		c, err := Parse(doc)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("an empty error message")
			}
			return
		}
		c2, err := Parse(doc)
		if err != nil || len(c2.Stores) != len(c.Stores) || c2.Seal != c.Seal {
			t.Fatalf("a second parse differs: %+v %v", c2, err)
		}
	})
}
