package config

import (
	"fmt"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// TestTypeErrors makes each kind of mistake and checks that the message
// names the key path, the line, the form wanted and an example, and that
// the example itself is a config that parses.
func TestTypeErrors(t *testing.T) {
	cases := []struct {
		name, doc string
		want      []string // in the message, besides "e.g."
	}{
		{"size", "seal: {size: big}", []string{"seal.size (line 1)", `got "big"`, "a size", "seal: {size: 16MiB}"}},
		{"size as list", "seal:\n  size: [16MiB]", []string{"seal.size (line 2)", "got a list", "a size", "16MiB"}},
		{"duration", "seal: {interval: soon}", []string{"seal.interval", `got "soon"`, "a duration", "seal: {interval: 1s}"}},
		{"duration without unit", "timeouts: {call: 30}", []string{"timeouts.call", `got "30"`, "a duration", "timeouts: {call: 30s}"}},
		{"bool", "compaction: {enabled: maybe}", []string{"compaction.enabled", "true or false", "compaction: {enabled: true}"}},
		{"int", "retention: {snapshots: three}", []string{"retention.snapshots", "a whole number", "retention: {snapshots: 7}"}},
		{"float", "limits: {requests_per_sec: fast}", []string{"limits.requests_per_sec", "a number", "limits: {requests_per_sec: 100}"}},
		{"string given a mapping", "state: {dir: /x}", []string{"state (line 1)", "got a mapping", "a string", "state: /var/lib/walship/mydb"}},
		{"list given a scalar", "compaction: {levels: 1m}", []string{"compaction.levels", "a list, each item a duration", "compaction: {levels: [1m, 1h]}"}},
		{"list item", "compaction: {levels: [1m, soon]}", []string{"compaction.levels[1]", `got "soon"`, "compaction: {levels: [1s]}"}},
		{"section given a scalar", "seal: 16MiB", []string{"seal (line 1)", `got "16MiB"`, "the keys size, interval", "seal: {size: 16MiB, interval: 1s}"}},
		{"stores given a string", "stores: file:///b", []string{"stores (line 1)", "a list, each item a mapping with the keys name, url, limits", `stores: [{name: local, url: "file:///backups/mydb"}]`}},
		{"store field", "stores:\n  - url: file:///b\n    limits: {upload_bytes_per_sec: lots}", []string{"stores[0].limits.upload_bytes_per_sec (line 3)", "a size", "stores: [{limits: {upload_bytes_per_sec: 16MiB}}]"}},
		{"command mapping", "snapshot: {command: {run: x}}", []string{"snapshot.command", "got a mapping", "a string (run by /bin/sh -c) or a list", `snapshot: {command: "mydb-ctl checkpoint --json"}`}},
		{"command list of lists", "snapshot: {freeze: [[a]]}", []string{"snapshot.freeze", "a command", "snapshot: {freeze: "}},
		{"document not a mapping", "just words", []string{"the config (line 1)", "a mapping with the keys source, state", "{state: /var/lib/walship/mydb, compression: zstd}"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.doc))
			if err == nil {
				t.Fatalf("%q parsed", tc.doc)
			}
			msg := err.Error()
			for _, w := range append(tc.want, "e.g. ") {
				if !strings.Contains(msg, w) {
					t.Errorf("%q: message %q does not mention %q", tc.doc, msg, w)
				}
			}
			if strings.Contains(msg, "cannot unmarshal") || strings.Contains(msg, "!!") {
				t.Errorf("%q: message %q speaks the decoder's language", tc.doc, msg)
			}
			// The example fits (a whole config may need more keys).
			_, example, _ := strings.Cut(msg, "e.g. ")
			var doc yaml.Node
			if err := yaml.Unmarshal([]byte(example), &doc); err != nil {
				t.Fatalf("%q: the example %q is not YAML: %v", tc.doc, example, err)
			}
			if err := checkShape(&doc, configType); err != nil {
				t.Errorf("%q: the example %q does not fit: %v", tc.doc, example, err)
			}
		})
	}
}

func TestUnknownKeys(t *testing.T) {
	cases := map[string][]string{
		"seal: {sise: 1MiB}":                     {"seal.sise (line 1): unknown key", "unknown key (did you mean size?); seal takes", "seal takes size, interval"},
		"stores: [{url: x, limit: {}}]":          {"stores[0].limit", "did you mean limits?", "stores[0] takes name, url, limits"},
		"compresion: zstd":                       {"compresion (line 1): unknown key", "did you mean compression?", "the config takes source, state"},
		"seal: {size: 1MiB}\nseal: {size: 2MiB}": {"seal (line 2): given twice (first on line 1)"},
		"seal: {size: 1MiB, size: 2MiB}":         {"seal.size (line 1): given twice"},
		"seal: {[a]: 1}":                         {"seal (line 1): a key must be a plain name"},
	}
	for doc, want := range cases {
		_, err := Parse([]byte(doc))
		for _, w := range want {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("%q: error %v, want it to mention %q", doc, err, w)
			}
		}
	}
}

// TestShapeAccepts checks that what the decoder takes passes the walk:
// aliases, merge keys, nulls, numbers for strings and sizes.
func TestShapeAccepts(t *testing.T) {
	c, err := Parse([]byte(`
limits: &lim {upload_bytes_per_sec: 1MiB, requests_per_sec: 10}
defaults: &store {limits: *lim}
stores:
  - <<: *store
    url: file:///a
  - {url: file:///b, name: 42}
seal: {size: 1048576, interval: }
compaction: {enabled: false, levels: [1m, 1h]}
`))
	if err == nil || !strings.Contains(err.Error(), "defaults (line 3): unknown key") {
		t.Fatalf("want the unknown key defaults reported, got %v", err)
	}
	c, err = Parse([]byte(`
limits: &lim {upload_bytes_per_sec: 1MiB, requests_per_sec: 10}
stores:
  - <<: {limits: *lim}
    url: file:///a
  - {url: file:///b, name: 42}
seal: {size: 1048576, interval: }
compaction: {enabled: false, levels: [1m, 1h]}
`))
	if err != nil {
		t.Fatal(err)
	}
	if c.Stores[0].Limits.UploadBytesPerSec != 1<<20 || c.Stores[1].Name != "42" || c.Seal.Size != 1<<20 || c.Compaction.On() {
		t.Fatalf("decoded %+v", c)
	}
}

// TestShapeMessagesAreBounded: a document full of mistakes gets a bounded
// message, and one that aliases its way to a huge tree is refused.
func TestShapeMessagesAreBounded(t *testing.T) {
	doc := "compaction: {levels: [" + strings.Repeat("x, ", 50) + "x]}"
	_, err := Parse([]byte(doc))
	if err == nil || strings.Count(err.Error(), "\n") != maxShapeErrors-1 {
		t.Fatalf("error %v: want %d lines", err, maxShapeErrors)
	}
	// Each level merges the one before ten times: 10^6 mappings.
	monster := "stores:\n  - &l0 {url: file:///a}\n"
	for l := 1; l <= 6; l++ {
		monster += fmt.Sprintf("  - &l%d {<<: [%s]}\n", l, strings.TrimSuffix(strings.Repeat(fmt.Sprintf("*l%d, ", l-1), 10), ", "))
	}
	_, err = Parse([]byte(monster))
	if err == nil || !strings.Contains(err.Error(), "more than") {
		t.Fatalf("an aliased monster: error %v", err)
	}
}

func TestEditDistance(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		d    int
	}{{"", "", 0}, {"size", "sise", 1}, {"limit", "limits", 1}, {"abc", "", 3}, {"kitten", "sitting", 3}} {
		if got := editDistance(tc.a, tc.b); got != tc.d {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.d)
		}
	}
}
