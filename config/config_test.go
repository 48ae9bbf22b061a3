package config

import (
	"strings"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	t.Setenv("WALSHIP_TEST_BUCKET", "my-bucket")
	c, err := Parse([]byte(`
source: {wal: /var/lib/db/wal, format: json, timestamp: "json:ts"}
state: /var/lib/walship
seal: {size: 16MiB, interval: 250ms}
compression: zstd
stores:
  - {name: local, url: "file:///backups"}
  - {url: "s3://${WALSHIP_TEST_BUCKET}/db", limits: {upload_bytes_per_sec: 20MiB}}
limits: {upload_bytes_per_sec: 50MB, requests_per_sec: 100}
metrics: {addr: "127.0.0.1:9090"}
`))
	if err != nil {
		t.Fatal(err)
	}
	if c.Seal.Size != 16<<20 || time.Duration(c.Seal.Interval) != 250*time.Millisecond {
		t.Fatalf("seal %+v", c.Seal)
	}
	if c.Stores[1].URL != "s3://my-bucket/db" || c.Stores[1].Name != "store2" || c.Stores[1].Limits.UploadBytesPerSec != 20<<20 {
		t.Fatalf("store %+v", c.Stores[1])
	}
	if c.Limits.UploadBytesPerSec != 50_000_000 {
		t.Fatalf("limits %+v", c.Limits)
	}
}

func TestParseErrors(t *testing.T) {
	cases := map[string]string{
		"source: {wal: /x, formt: json}":                 "formt",
		"stores: [{url: 'file:///a', bogus: 1}]":         "bogus",
		"seal: {size: 16 parsecs}":                       "size",
		"seal: {interval: soon}":                         "duration",
		"stores: [{url: 's3://${WALSHIP_NOPE_X}'}]":      "WALSHIP_NOPE_X",
		"compression: lz5":                               "compression",
		"stores: [{name: a}]":                            "url is required",
		"stores: [{name: a, url: x}, {name: a, url: y}]": "used twice",
		"timeouts: {call: 10ms}":                         "timeouts.call",
		"timeouts: {min_rate: 10}":                       "timeouts.min_rate",
	}
	for doc, want := range cases {
		_, err := Parse([]byte(doc))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want it to mention %q", doc, err, want)
		}
	}
}

func TestTimeouts(t *testing.T) {
	c, err := Parse([]byte("timeouts: {call: 5s, min_rate: 256KiB}"))
	if err != nil || time.Duration(c.Timeouts.Call) != 5*time.Second || c.Timeouts.MinRate != 256<<10 {
		t.Fatalf("timeouts: %+v %v", c.Timeouts, err)
	}
}

func TestParseSize(t *testing.T) {
	for s, want := range map[string]int64{"1": 1, "1KiB": 1024, "1.5MiB": 3 << 19, "2GB": 2e9, "0": 0} {
		if got, err := ParseSize(s); err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", s, got, err, want)
		}
	}
}
