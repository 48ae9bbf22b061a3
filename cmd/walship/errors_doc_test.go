package main

import (
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// docEntry is one "### " entry of docs/ERRORS.md: the messages of its
// first fenced block (one pattern per line) and its exit status (-1 when
// the page says it is no exit: a log line, a report line).
type docEntry struct {
	title    string
	messages []string
	patterns []*regexp.Regexp
	exit     int
}

var (
	placeholder = regexp.MustCompile(`<[A-Z][A-Z_]*>`)
	exitLine    = regexp.MustCompile(`(?m)^Exit (\d)\b`)
	// secretKey is an age secret key itself, not the "AGE-SECRET-KEY-1..."
	// of a hint.
	secretKey = regexp.MustCompile(`AGE-SECRET-KEY-1[0-9A-Z]{20}`)
)

// errorsDoc parses docs/ERRORS.md. A message is a prefix of what walship
// prints: <N> stands for a number, any other <WORD> for varying text.
func errorsDoc(t *testing.T) map[string]docEntry {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "docs", "ERRORS.md"))
	if err != nil {
		t.Fatal(err)
	}
	entries := map[string]docEntry{}
	parts := strings.Split(string(b), "\n### ")
	for _, part := range parts[1:] {
		title, body, _ := strings.Cut(part, "\n")
		body, _, _ = strings.Cut(body, "\n## ")
		_, block, ok := strings.Cut(body, "```text\n")
		block, rest, ok2 := strings.Cut(block, "```")
		if !ok || !ok2 {
			t.Fatalf("ERRORS.md: entry %q has no ```text block of messages", title)
		}
		if _, dup := entries[title]; dup {
			t.Fatalf("ERRORS.md: entry %q twice", title)
		}
		e := docEntry{title: title, exit: -1}
		if m := exitLine.FindStringSubmatch(rest); m != nil {
			e.exit, _ = strconv.Atoi(m[1])
		}
		for _, msg := range strings.Split(strings.TrimSpace(block), "\n") {
			if len(placeholder.ReplaceAllString(msg, "")) < 10 {
				t.Fatalf("ERRORS.md: %q: message %q is too little fixed text to tell it from another", title, msg)
			}
			e.messages = append(e.messages, msg)
			e.patterns = append(e.patterns, messagePattern(msg))
		}
		entries[title] = e
	}
	if len(entries) < 30 {
		t.Fatalf("ERRORS.md: only %d entries parsed", len(entries))
	}
	return entries
}

// messagePattern turns a page message into a regexp anchored at a line's
// start.
func messagePattern(msg string) *regexp.Regexp {
	var re strings.Builder
	re.WriteString("^")
	last := 0
	for _, loc := range placeholder.FindAllStringIndex(msg, -1) {
		re.WriteString(regexp.QuoteMeta(msg[last:loc[0]]))
		if msg[loc[0]:loc[1]] == "<N>" {
			re.WriteString(`-?[0-9]+`)
		} else {
			re.WriteString(`.+?`)
		}
		last = loc[1]
	}
	re.WriteString(regexp.QuoteMeta(msg[last:]))
	return regexp.MustCompile(re.String())
}

// matches reports whether some line of out starts with one of e's messages.
func (e docEntry) matches(out string) bool {
	for _, line := range strings.Split(out, "\n") {
		for _, p := range e.patterns {
			if p.MatchString(line) {
				return true
			}
		}
	}
	return false
}

// errScenario provokes errors through the CLI. args is split on spaces
// after the fixture's $NAMEs are replaced; $OUT is a new path per run.
type errScenario struct {
	args    string
	code    int
	entries []string          // each must match a line of stdout or stderr
	env     map[string]string // set for the run
	minio   bool              // needs the MinIO of scripts/testenv.sh
	agent   bool              // needs the running agent
}

var minioCreds = map[string]string{"MINIO_ACCESS_KEY": "walship", "MINIO_SECRET_KEY": "walship-secret"}

var errScenarios = []errScenario{
	// Config and flags.
	{args: "frobnicate", code: 2, entries: []string{"Unknown command"}},
	{args: "restore $STORE $OUT --bogus", code: 2, entries: []string{"Unknown flag"}},
	{args: "restore $STORE $OUT --index abc", code: 2, entries: []string{"Bad flag value"}},
	{args: "restore $STORE $OUT --download-limit fast", code: 2, entries: []string{"Bad flag value"}},
	{args: "restore $STORE $OUT --parallel 0", code: 2, entries: []string{"Bad flag value"}},
	{args: "restore $STORE $OUT --as xml", code: 2, entries: []string{"Bad flag value"}},
	{args: "prune $STORE --snapshots -1", code: 2, entries: []string{"Bad flag value"}},
	{args: "prune $STORE --window 3x", code: 2, entries: []string{"Bad flag value"}},
	{args: "restore $STORE $OUT --time yesterday", code: 2, entries: []string{"Bad time"}},
	{args: "restore $STORE $OUT --index 5 --time 2026-01-01T00:00:00Z", code: 2, entries: []string{"Flags that exclude each other"}},
	{args: "restore $STORE", code: 2, entries: []string{"Wrong arguments"}},
	{args: "replicate", code: 2, entries: []string{"Wrong arguments"}},
	{args: "status extra", code: 2, entries: []string{"Wrong arguments"}},
	{args: "list $STORE segments more", code: 2, entries: []string{"Wrong arguments"}},
	{args: "list $STORE frobs", code: 2, entries: []string{"Unknown listing"}},
	{args: "mark $STORE bad!name", code: 2, entries: []string{"Bad restore point name"}},
	{args: "restore $STORE $OUT --point bad!name", code: 2, entries: []string{"Bad restore point name"}},
	{args: "list $STORE --log-level loud", code: 2, entries: []string{"Bad log flags"}},
	{args: "list $STORE --log-format xml", code: 2, entries: []string{"Bad log flags"}},
	{args: "replicate --config $ROOT/nonexistent.yml", code: 2, entries: []string{"Config file cannot be read"}},
	{args: "replicate --config $ROOT/unknown.yml", code: 2, entries: []string{"Unknown config key"}},
	{args: "replicate --config $ROOT/form.yml", code: 2, entries: []string{"Config value of the wrong form"}},
	{args: "replicate --config $ROOT/env.yml", code: 2, entries: []string{"Config variable not set"}},
	{args: "replicate --config $ROOT/yaml.yml", code: 2, entries: []string{"Config is not YAML"}},
	{args: "replicate --config $ROOT/empty.yml", code: 2, entries: []string{"Config is not YAML"}},
	{args: "replicate --config $ROOT/nourl.yml", code: 2, entries: []string{"Store entry incomplete"}},
	{args: "replicate --config $ROOT/secret.yml", code: 2, entries: []string{"Secret key in the agent's config"}},
	{args: "replicate --config $ROOT/secretfile.yml", code: 2, entries: []string{"Secret key in the agent's config"}},
	{args: "replicate --config $ROOT/secretform.yml", code: 2, entries: []string{"Config value of the wrong form"}},
	{args: "replicate --config $ROOT/badrcpt.yml", code: 2, entries: []string{"Bad encryption recipient"}},
	{args: "replicate --config $ROOT/norcpt.yml", code: 2, entries: []string{"Bad encryption recipient"}},
	{args: "replicate --config $ROOT/rcptfile.yml", code: 2, entries: []string{"Bad encryption recipient"}},
	{args: "replicate --config $ROOT/encrypttrue.yml", code: 2, entries: []string{"Encryption settings that do not fit"}},
	{args: "replicate --config $ROOT/encryptboth.yml", code: 2, entries: []string{"Encryption settings that do not fit"}},
	{args: "replicate --config $ROOT/manyrcpt.yml", code: 2, entries: []string{"Encryption settings that do not fit"}},
	{args: "list gopher://x/y", code: 2, entries: []string{"Invalid store URL"}},
	{args: "list s3://Bad_Bucket/x", code: 2, entries: []string{"Invalid store URL"}},
	{args: "list file://relative/x", code: 2, entries: []string{"Invalid store URL"}},
	{args: "list s3://user:secret@bucket/x", code: 2, entries: []string{"Credentials in a store URL"}},
	{args: "replicate $WAL $OUT --state $ROOT/token-state --metrics-addr 127.0.0.1:1", code: 2, entries: []string{"Admin token too short"},
		env: map[string]string{"WALSHIP_TOKEN": "short"}},
	{args: "snapshot --config $ROOT/tokmode.yml", code: 1, entries: []string{"Token file readable by others"}},
	// Source log.
	{args: "replicate $ROOT/empty-store $OUT --state $ROOT/s1", code: 1, entries: []string{"Not a tidwall/wal directory"}},
	{args: "replicate $ROOT/nonexistent $OUT --state $ROOT/s1", code: 1, entries: []string{"Not a tidwall/wal directory"}},
	{args: "replicate $ROOT/unknown.yml $OUT --state $ROOT/s1", code: 1, entries: []string{"Not a tidwall/wal directory"}},
	{args: "restore $ENC $OUT --identity $ROOT/id-loose", code: 2, entries: []string{"Identity file refused"}},
	{args: "replicate --config $ROOT/compactid.yml", code: 2, entries: []string{"Identity file refused"}},
	{args: "verify $ENC --identity $ROOT/id-garbage", code: 2, entries: []string{"Identity file refused"}},
	{args: "mark $ENC p --identity $ROOT/nonexistent", code: 2, entries: []string{"Identity file refused"}},
	{args: "restore $ENC $OUT --passphrase-file $ROOT/id-loose", code: 2, entries: []string{"Identity file refused"}},
	{args: "restore $ENC $OUT", code: 2, entries: []string{"Identity file refused"}, env: map[string]string{"WALSHIP_AGE_IDENTITY": "AGE-SECRET-KEY-1NOTAKEY"}},
	{args: "replicate $WAL $OUT --format json --state $ROOT/s1", code: 1, entries: []string{"Source format mismatch"}},
	// State dir.
	{args: "replicate $WAL $OUT --state $WAL/state", code: 1, entries: []string{"State dir inside the source"}},
	{args: "replicate $WAL $OUT --state $ROOT/unknown.yml/state", code: 1, entries: []string{"State dir cannot be created or written"}},
	{args: "replicate $WAL $OUT --state $AGENT_STATE", code: 1, entries: []string{"State dir in use"}, agent: true},
	{args: "replicate $WAL $OUT --state $STORE_STATE", code: 1, entries: []string{"State dir of another source"}},
	{args: "replicate $WAL $OUT --state $ROOT/damaged-state", code: 1, entries: []string{"State file damaged"}},
	{args: "replicate $WAL $STORE --state $OUT", code: 1, entries: []string{"Store holds another agent's backup"}},
	// Stores.
	{args: "list minio://127.0.0.1:1/bucket/db?tls=false", code: 1, entries: []string{"Store unreachable"}, env: minioCreds},
	{args: "verify $ROOT/no-such-store", code: 1, entries: []string{"File store does not exist"}},
	{args: "list minio://$HOLE/bucket/db?tls=false", code: 1, entries: []string{"Store hangs"}, env: minioCreds},
	{args: "list minio://127.0.0.1:1/bucket/db?tls=false", code: 1, entries: []string{"No credentials"},
		env: map[string]string{"MINIO_ACCESS_KEY": "", "MINIO_SECRET_KEY": "", "AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": ""}},
	{args: "list minio://$MINIO/$BUCKET/db?tls=false", code: 1, entries: []string{"Access denied"}, minio: true,
		env: map[string]string{"MINIO_SECRET_KEY": "not-the-secret"}},
	{args: "list minio://$MINIO/$BUCKET-missing/db?tls=false", code: 1, entries: []string{"Bucket missing"}, minio: true},
	{args: "list --config $ROOT/two.yml", code: 1, entries: []string{"No store reachable"}, env: minioCreds},
	// Lease.
	{args: "replicate $WAL $AGENT_STORE --state $OUT", code: 1, entries: []string{"Lease held by another agent"}, agent: true},
	{args: "replicate $WAL $ROOT/bad-lease --state $OUT", code: 1, entries: []string{"Lease record unreadable"}},
	// Restore refusals.
	{args: "restore $ROOT/empty-store $OUT", code: 1, entries: []string{"No backup in the store"}},
	{args: "restore $STORE $OUT --index 99999", code: 1, entries: []string{"Entries missing (target past the end, or a gap)"}},
	{args: "mark $STORE past --index 99999", code: 1, entries: []string{"Entries missing (target past the end, or a gap)"}},
	{args: "restore $STORE $OUT --time 2001-01-01T00:00:00Z", code: 1, entries: []string{"Target before the history"}},
	{args: "restore $STORE $OUT --timeline 7", code: 1, entries: []string{"Timeline not restorable"}},
	{args: "restore $BAD_TIMELINE $OUT", code: 1, entries: []string{"Timeline not restorable"}},
	{args: "restore $STORE $OUT --point nosuch", code: 1, entries: []string{"Restore point not found"}},
	{args: "restore $BAD_POINT $OUT --point kept", code: 1, entries: []string{"Restore point damaged"}},
	{args: "restore $CORRUPT $OUT", code: 1, entries: []string{"Corrupt object"}},
	{args: "restore $ENC $OUT", code: 1, entries: []string{"No identity opens the segments (encrypted store)"}},
	{args: "restore $ENC $OUT --identity $ROOT/id-other --time 2026-01-02T03:04:05.15Z", code: 1, entries: []string{"No identity opens the segments (encrypted store)"}},
	{args: "mark $ENC p --identity $ROOT/id-other", code: 1, entries: []string{"No identity opens the segments (encrypted store)"}},
	{args: "mark $ENC p --identity $ROOT/id-a", code: 1, entries: []string{"Restore point would be plain in an encrypted store"}},
	{args: "compact $ENC --identity $ROOT/id-other --encrypt-to $ROOT/recipients-a", code: 2, entries: []string{"Compact: recipients without an identity"}},
	{args: "restore $ENC_DAMAGED $OUT --identity $ROOT/id-a", code: 1, entries: []string{"Corrupt object"}},
	{args: "restore $ENC_BASE $OUT --index 150", code: 1, entries: []string{"No identity opens the base snapshot (encrypted store)"}},
	{args: "restore $ENC_BASE $OUT --index 150 --identity $ROOT/id-other", code: 1, entries: []string{"No identity opens the base snapshot (encrypted store)"}},
	{args: "verify $ENC_BASE_NOKEYS", code: 3, entries: []string{"DAMAGED object"}},
	{args: "replicate --config $ROOT/chunksecret.yml", code: 1, entries: []string{"Chunk secret file refused"}},
	{args: "restore $STORE $ROOT/nonempty", code: 1, entries: []string{"Output directory not empty"}},
	{args: "restore $STORE $ROOT/foreign --force", code: 1, entries: []string{"--force refuses what walship did not write"}},
	// Verify.
	{args: "verify $CORRUPT", code: 3, entries: []string{"Damage found", "DAMAGED object", "GAP", "UNRESTORABLE POINT"}},
	{args: "verify $ENC_DAMAGED --identity $ROOT/id-a", code: 3, entries: []string{"Damage found", "DAMAGED object", "GAP"}},
	{args: "verify --config $ROOT/one.yml", code: 1, entries: []string{"Store not verified"}, env: minioCreds},
	// Maintenance.
	{args: "mark $STORE kept", code: 1, entries: []string{"Restore point exists"}},
	{args: "prune $BAD_POINT --snapshots 1", code: 1, entries: []string{"Prune refuses: a record is unreadable"}},
	// Migrate.
	{args: "migrate $STORE --to 2 --scratch $OUT", code: 2, entries: []string{"Migrate target not given"}},
	{args: "migrate $STORE --to 1 --plain --scratch $OUT", code: 2, entries: []string{"Migrate target not given"}},
	{args: "migrate $ENC --to 2 --encrypt-to $ROOT/rcpt-other --scratch $OUT", code: 1, entries: []string{"Migrate needs an identity"}},
	{args: "migrate --config $ROOT/migrate-plain.yml --to 2 --identity $ROOT/id-a --scratch $OUT", code: 1, entries: []string{"Migrate would decrypt"}},
	{args: "migrate $MIGRATE_CORRUPT --to 2 --plain --scratch $OUT", code: 1, entries: []string{"Objects not migrated"}},
	{args: "migrate $MIGRATE_BASE --to 2 --encrypt-to $ROOT/rcpt-other --identity $ROOT/id-a --scratch $OUT", code: 1, entries: []string{"Objects not migrated"}},
	// The running agent.
	{args: "status --addr $DEAD", code: 1, entries: []string{"No agent answers"}},
	{args: "snapshot --addr $DEAD", code: 1, entries: []string{"Snapshot needs the admin token"}, env: map[string]string{"WALSHIP_TOKEN": ""}},
	{args: "snapshot --addr $AGENT_ADDR", code: 1, entries: []string{"Wrong admin token (HTTP 401)"}, agent: true,
		env: map[string]string{"WALSHIP_TOKEN": "not-the-agents-token-0123456789"}},
	{args: "snapshot --config $ROOT/agent.yml", code: 1, entries: []string{"Snapshot command failed"}, agent: true},
}

// errNotProvoked are the page's entries no scenario provokes, and why.
var errNotProvoked = map[string]string{
	"Damaged source log":                 "not an exit: the agent keeps running and reports it in /healthz and /status (agent tests)",
	"Spool without state":                "needs a sealed segment in a spool without state.json (agent recover tests)",
	"State dir full (ENOSPC)":            "not an exit: the agent keeps running and reports it in /healthz and /status (agent TestDiskFull* fill a tmpfs)",
	"State dir full at its first start":  "needs a filesystem with no inode left (agent TestDiskFullStartWithoutLock fills a tmpfs's inodes)",
	"Store left out (several stores)":    "written to the process's stderr directly, not through run's writer (TestStartWithUnreachableStore)",
	"No conditional writes":              "every built-in store has conditional writes (walship check tests the row)",
	"Lease lost":                         "logged by a running agent when another takes over (lease and agent tests)",
	"Interrupted restore":                "needs a restore killed while installing (pitr install tests)",
	"Base snapshot damaged":              "needs a damaged base snapshot (pitr and snapshot tests)",
	"Key record of other recipients":     "logged by a running agent whose snapshot finds another secret's record under its key (snapshot tests)",
	"CONFLICT":                           "needs two agents shipping different logs to one prefix (pitr verify tests)",
	"Compact stops at a corrupt segment": "needs segments in a compaction window that has closed, older than the fixture's (compact tests)",
	"Prune stopped: the store changed":   "needs a timeline or pinned point created while prune runs (retention tests)",
	"Migrate scratch dir in use":         "needs two migrations at once (TestMigrateScratchLock)",
}

func TestErrorsDocCovered(t *testing.T) {
	doc := errorsDoc(t)
	provoked := map[string]bool{}
	for _, s := range errScenarios {
		for _, e := range s.entries {
			if _, ok := doc[e]; !ok {
				t.Errorf("scenario %q names %q, which docs/ERRORS.md does not have", s.args, e)
			}
			provoked[e] = true
		}
	}
	for e := range errNotProvoked {
		if _, ok := doc[e]; !ok {
			t.Errorf("errNotProvoked names %q, which docs/ERRORS.md does not have", e)
		}
		if provoked[e] {
			t.Errorf("%q is provoked by a scenario and listed as not provoked", e)
		}
	}
	for _, title := range slices.Sorted(maps.Keys(doc)) {
		if !provoked[title] && errNotProvoked[title] == "" {
			t.Errorf("docs/ERRORS.md entry %q is provoked by no scenario and not in errNotProvoked (with why)", title)
		}
	}
}

func TestErrorsDoc(t *testing.T) {
	doc := errorsDoc(t)
	f := newErrFixture(t)
	for _, s := range errScenarios {
		t.Run(strings.ReplaceAll(s.args, "/", "_"), func(t *testing.T) {
			if s.minio {
				f.needMinio(t)
			}
			if s.agent {
				f.needAgent(t)
			}
			for k, v := range s.env {
				t.Setenv(k, v)
			}
			args := strings.Fields(f.expand(t, s.args))
			code, stdout, stderr := walship(t, args...)
			if secretKey.MatchString(strings.ToUpper(stdout + stderr)) {
				t.Errorf("an age secret key in the output:\nstdout:\n%s\nstderr:\n%s", stdout, stderr)
			}
			if code != s.code {
				t.Errorf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, s.code, stdout, stderr)
			}
			for _, title := range s.entries {
				e, ok := doc[title]
				if !ok {
					t.Errorf("docs/ERRORS.md has no entry %q", title)
					continue
				}
				if e.exit >= 0 && e.exit != code {
					t.Errorf("docs/ERRORS.md %q says exit %d; walship exited %d", title, e.exit, code)
				}
				if !e.matches(stdout + "\n" + stderr) {
					t.Errorf("no line printed matches docs/ERRORS.md %q:\n  %s\nstdout:\n%s\nstderr:\n%s",
						title, strings.Join(e.messages, "\n  "), stdout, stderr)
				}
			}
		})
	}
}
