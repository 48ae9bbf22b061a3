// Package config reads walship's YAML configuration: ${VAR} expansion from
// the environment, strict keys (an unknown key is an error, so a typo never
// silently falls back to a default), sizes like "16MiB" and durations like
// "1s".
package config

import (
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"regexp"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/walship/walship/crypt"
)

// Config is the whole file. See DESIGN.md for an example.
type Config struct {
	Source      Source     `yaml:"source"`
	State       string     `yaml:"state" example:"/var/lib/walship/mydb"`
	Seal        Seal       `yaml:"seal"`
	Compression string     `yaml:"compression" example:"zstd"`
	Stores      []Store    `yaml:"stores"`
	Limits      Limits     `yaml:"limits"`
	Metrics     Metrics    `yaml:"metrics"`
	Spool       Spool      `yaml:"spool"`
	Retry       Retry      `yaml:"retry"`
	Timeouts    Timeouts   `yaml:"timeouts"`
	Snapshot    Snapshot   `yaml:"snapshot"`
	Retention   Retention  `yaml:"retention"`
	Compaction  Compaction `yaml:"compaction"`
	// Encryption is every store's default: segments encrypted to these
	// recipients (a store may say encrypt: false, or give its own).
	Encryption Encryption `yaml:"encryption"`

	recipients []*crypt.Recipient // Encryption's, resolved by check
}

// Snapshot says how and when base snapshots are taken. Exactly one way:
// Command (the database prints {"dir": ..., "index": N}) or a hard-link
// freeze of source.data (optionally bracketed by Freeze and Thaw). Each
// command is a shell string or an argv list (see Command and DirCommand).
type Snapshot struct {
	Command       Command    `yaml:"command"`         // prints one JSON line {"dir","index"}
	Release       DirCommand `yaml:"release"`         // run with the dir as last argument after upload
	Freeze        Command    `yaml:"freeze"`          // run before hard-linking source.data
	Thaw          Command    `yaml:"thaw"`            // run after
	Interval      Duration   `yaml:"interval"`        // take one this often (0: never by time)
	AfterWALBytes Size       `yaml:"after_wal_bytes"` // take one after this much WAL (0: never by size)
	ChunkSize     Size       `yaml:"chunk_size"`      // default 4MiB
}

// Retention says what prune keeps.
type Retention struct {
	Snapshots int      `yaml:"snapshots" example:"7"` // keep the newest N bases (0: all)
	Window    Duration `yaml:"window" example:"168h"` // every point in the last D stays restorable (0: all)
	Interval  Duration `yaml:"interval"`              // how often the agent prunes (0: never; 'walship prune' always works)
}

// Compaction says how the agent merges each store's small segments into
// larger ones (package compact). On by default.
type Compaction struct {
	Enabled  *bool      `yaml:"enabled"`                   // default true
	Interval Duration   `yaml:"interval"`                  // how often a store with work is compacted; default 1m
	Levels   []Duration `yaml:"levels" example:"[1m, 1h]"` // merge windows, shortest first; default [1m, 1h]
	Delay    Duration   `yaml:"delay"`                     // after a window ends; default 1m
	Grace    Duration   `yaml:"grace"`                     // before merged segments are deleted; default 1h
	MaxBytes Size       `yaml:"max_bytes"`                 // of inputs per merged segment; default 256MiB
	// IdentityFile is an age identity file (AGE-SECRET-KEY-1... lines,
	// mode 0600) that lets the agent compact the encrypted stores it opens:
	// merged segments are sealed to each store's recipients again. Without
	// it (the default) the agent holds only public keys and leaves encrypted
	// stores to 'walship compact --identity'.
	IdentityFile string `yaml:"identity_file"`
}

// On says whether the agent compacts.
func (c Compaction) On() bool { return c.Enabled == nil || *c.Enabled }

// Spool bounds the local spool of sealed segments.
type Spool struct {
	MaxBytes Size `yaml:"max_bytes"` // default 4GiB
}

// Retry tunes uploads to a failing store.
type Retry struct {
	Attempts          int      `yaml:"attempts"`              // per object before the store is degraded; default 5
	MaxBackoff        Duration `yaml:"max_backoff"`           // between attempts; default 10s
	ReconcileInterval Duration `yaml:"reconcile_max_backoff"` // between reconcile runs; default 5m
}

// Timeouts bound every call to a store (backends/deadline): a call that
// makes no progress for Call, or moves a body slower than MinRate on
// average, fails and is retried like any failed call.
type Timeouts struct {
	Call    Duration `yaml:"call" example:"30s"`       // default 30s; at least 1s
	MinRate Size     `yaml:"min_rate" example:"64KiB"` // bytes/s; default 64KiB; at least 1KiB
}

// Source is the database's log.
type Source struct {
	WAL       string `yaml:"wal" example:"/var/lib/mydb/wal"`
	Format    string `yaml:"format" example:"auto"`        // auto | binary | json
	Timestamp string `yaml:"timestamp" example:"observed"` // observed | json:FIELD | be64:OFFSET
	Data      string `yaml:"data" example:"/var/lib/mydb/data"`
}

// Seal says when a segment is sealed.
type Seal struct {
	Size     Size     `yaml:"size"`
	Interval Duration `yaml:"interval"`
}

// Store is one destination.
type Store struct {
	Name   string `yaml:"name" example:"local"`
	URL    string `yaml:"url" example:"\"file:///backups/mydb\""`
	Limits Limits `yaml:"limits"`
	// Encrypt false keeps this store plain (a local disk) whatever the
	// top-level encryption says; true insists that it is encrypted.
	Encrypt *bool `yaml:"encrypt" example:"false"`
	// Encryption, when given, replaces the top-level recipients for this
	// store.
	Encryption *Encryption `yaml:"encryption"`

	recipients []*crypt.Recipient // resolved by Config.check
}

// Limits are rate limits (bytes and requests per second; 0 = none).
type Limits struct {
	UploadBytesPerSec     Size    `yaml:"upload_bytes_per_sec"`
	DownloadBytesPerSec   Size    `yaml:"download_bytes_per_sec"`
	RequestsPerSec        float64 `yaml:"requests_per_sec" example:"100"`
	BulkUploadBytesPerSec Size    `yaml:"bulk_upload_bytes_per_sec"` // cap for backlog and snapshot uploads
}

// Metrics is the metrics endpoint.
type Metrics struct {
	Addr   string   `yaml:"addr" example:"\"127.0.0.1:9090\""`
	MaxLag Duration `yaml:"max_lag"` // /healthz fails beyond this lag; default 5m
	// TokenFile names a file (mode 0600) holding the bearer token that the
	// mutating endpoints (PUT /limits, POST /snapshot) require; without it
	// the token comes from $WALSHIP_TOKEN, and with neither those endpoints
	// are off. The token itself never goes in the config.
	TokenFile string `yaml:"token_file" example:"/etc/walship/token"`
}

var varRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// Expand replaces ${VAR} with the variable's value; an unset variable is an
// error naming it.
func Expand(s string) (string, error) {
	var missing []string
	out := varRef.ReplaceAllStringFunc(s, func(m string) string {
		name := m[2 : len(m)-1]
		v, ok := os.LookupEnv(name)
		if !ok {
			missing = append(missing, name)
		}
		return v
	})
	if len(missing) > 0 {
		return "", fmt.Errorf("environment variable(s) %s not set", strings.Join(missing, ", "))
	}
	return out, nil
}

// Load reads and checks the file at path.
func Load(path string) (*Config, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	c, err := Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return c, nil
}

var configType = reflect.TypeFor[Config]()

// Parse checks and decodes a config document. A key or value that does not
// fit is reported by its key path (seal.size), with the form wanted and an
// example (see checkShape); an unknown key is an error.
func Parse(raw []byte) (*Config, error) {
	text, err := Expand(string(raw))
	if err != nil {
		return nil, err
	}
	var doc yaml.Node
	dec := yaml.NewDecoder(strings.NewReader(text))
	if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("the config is empty: want a mapping with the keys %s", strings.Join(fieldsOf(configType).names(), ", "))
	} else if err != nil {
		return nil, fmt.Errorf("not valid YAML: %v", strings.TrimPrefix(err.Error(), "yaml: "))
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, errors.New("more than one YAML document: keep one (remove the second ---)")
	}
	if err := checkShape(&doc, configType); err != nil {
		return nil, err
	}
	var c Config
	if err := doc.Decode(&c); err != nil {
		return nil, fmt.Errorf("%v", strings.TrimPrefix(err.Error(), "yaml: "))
	}
	return &c, c.check()
}

func (c *Config) check() error {
	names := map[string]bool{}
	for i, s := range c.Stores {
		if s.URL == "" {
			return fmt.Errorf("stores[%d]: url is required", i)
		}
		if s.Name == "" {
			c.Stores[i].Name = fmt.Sprintf("store%d", i+1)
		}
		if names[c.Stores[i].Name] {
			return fmt.Errorf("stores[%d]: name %q used twice", i, s.Name)
		}
		names[c.Stores[i].Name] = true
	}
	if err := c.checkEncryption(); err != nil {
		return err
	}
	if len(c.Snapshot.Command) > 0 && (len(c.Snapshot.Freeze) > 0 || len(c.Snapshot.Thaw) > 0) {
		return errors.New("snapshot: give either command (the database makes the checkpoint) or freeze/thaw (walship hard-links source.data), not both")
	}
	if c.Retention.Snapshots < 0 {
		return errors.New("retention.snapshots must be >= 0")
	}
	for i, l := range c.Compaction.Levels {
		if d := time.Duration(l); d < time.Second || i > 0 && (d <= time.Duration(c.Compaction.Levels[i-1]) || d%time.Duration(c.Compaction.Levels[i-1]) != 0) {
			return fmt.Errorf("compaction.levels %v: want windows of at least 1s, shortest first, each a whole multiple of the one before (e.g. [1m, 1h])", durations(c.Compaction.Levels))
		}
	}
	if c.Compaction.Interval < 0 || c.Compaction.Delay < 0 || c.Compaction.Grace < 0 || c.Compaction.MaxBytes < 0 {
		return errors.New("compaction: interval, delay, grace and max_bytes must not be negative")
	}
	if t := time.Duration(c.Timeouts.Call); t != 0 && t < time.Second {
		return fmt.Errorf("timeouts.call %v: want at least 1s (a store's answer can take that long)", t)
	}
	if r := c.Timeouts.MinRate; r != 0 && r < 1<<10 {
		return fmt.Errorf("timeouts.min_rate %d bytes/s: want at least 1KiB", r)
	}
	switch c.Compression {
	case "", "zstd", "none":
	default:
		return fmt.Errorf("compression %q: want zstd or none", c.Compression)
	}
	switch c.Source.Format {
	case "", "auto", "binary", "json":
	default:
		return fmt.Errorf("source.format %q: want auto, binary or json", c.Source.Format)
	}
	return nil
}

// Size is a byte count written as a number or with a unit (KiB, MiB, GiB,
// KB, MB, GB, B).
type Size int64

// UnmarshalYAML implements yaml.Unmarshaler.
func (s *Size) UnmarshalYAML(n *yaml.Node) error {
	v, err := ParseSize(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*s = Size(v)
	return nil
}

var sizeRe = regexp.MustCompile(`^\s*([0-9]+(?:\.[0-9]+)?)\s*([KMGT]i?B|B)?\s*$`)

// ParseSize parses "16MiB", "512KB", "1048576".
func ParseSize(s string) (int64, error) {
	m := sizeRe.FindStringSubmatch(s)
	if m == nil {
		return 0, fmt.Errorf("size %q: want a number with an optional unit (B, KiB, MiB, GiB, KB, MB, GB)", s)
	}
	var f float64
	fmt.Sscanf(m[1], "%g", &f)
	mult := map[string]float64{"": 1, "B": 1, "KB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12,
		"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40}[m[2]]
	return int64(f * mult), nil
}

// Duration is a time.Duration written like "1s" or "250ms".
type Duration time.Duration

// UnmarshalYAML implements yaml.Unmarshaler.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: duration %q: want e.g. 1s or 250ms", n.Line, n.Value)
	}
	*d = Duration(v)
	return nil
}

// durations prints a list of durations as YAML would take it.
func durations(ds []Duration) string {
	parts := make([]string, len(ds))
	for i, d := range ds {
		parts[i] = time.Duration(d).String()
	}
	return "[" + strings.Join(parts, ", ") + "]"
}
