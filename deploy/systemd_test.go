package deploy

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/walship/walship/backends/storeurl"
	"github.com/walship/walship/config"
)

// instance is the instance name the tests give the template unit.
const instance = "mydb"

// instanceUnit writes the unit as walship@mydb.service into a temp dir, with
// ExecStart running the walship binary built for the test (systemd-analyze
// refuses a command that does not exist), and returns its path.
func instanceUnit(t *testing.T) string {
	t.Helper()
	raw, err := os.ReadFile(unitPath)
	if err != nil {
		t.Fatal(err)
	}
	argv := execStart(t, readUnit(t, unitPath))
	bin := walshipBin(t)
	var out []string
	replaced := 0
	for _, line := range strings.Split(string(raw), "\n") {
		if strings.HasPrefix(line, "ExecStart=") {
			line = "ExecStart=" + bin + strings.TrimPrefix(line, "ExecStart="+argv[0])
			replaced++
		}
		out = append(out, line)
	}
	if replaced != 1 {
		t.Fatalf("%d ExecStart lines, want 1", replaced)
	}
	p := filepath.Join(t.TempDir(), "walship@"+instance+".service")
	if err := os.WriteFile(p, []byte(strings.Join(out, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestSystemdUnitVerifies: systemd-analyze verify finds nothing to say about
// the unit (an unknown key, a bad value, a missing command).
func TestSystemdUnitVerifies(t *testing.T) {
	sa := needTool(t, "systemd-analyze")
	p := instanceUnit(t)
	out, err := exec.Command(sa, "verify", p).CombinedOutput()
	if err != nil {
		t.Errorf("systemd-analyze verify %s: %v", p, err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		// Only what concerns this unit: the machine's other units are not ours.
		if strings.Contains(line, "walship") || strings.Contains(line, p) {
			t.Errorf("systemd-analyze verify: %s", line)
		} else if line != "" {
			t.Logf("systemd-analyze verify (not about the unit): %s", line)
		}
	}
}

// TestSystemdUnitSandbox: systemd-analyze's own exposure score of the unit
// stays "OK" (2.0 or less of 10).
func TestSystemdUnitSandbox(t *testing.T) {
	sa := needTool(t, "systemd-analyze")
	p := instanceUnit(t)
	out, err := exec.Command(sa, "security", "--offline=true", "--threshold=20", "--no-pager", p).CombinedOutput()
	if err != nil {
		t.Errorf("systemd-analyze security: exposure above 2.0 (%v):\n%s", err, out)
	}
	if !strings.Contains(string(out), "Overall exposure level for walship@"+instance+".service") {
		t.Errorf("systemd-analyze security printed no score:\n%s", out)
	}
}

// TestSystemdUnitSettings checks what the unit promises in its comments and
// what the agent needs from it.
func TestSystemdUnitSettings(t *testing.T) {
	u := readUnit(t, unitPath)
	want := map[string]string{
		"User":                     "walship",
		"Group":                    "walship",
		"NoNewPrivileges":          "yes",
		"ProtectSystem":            "strict",
		"ProtectHome":              "yes",
		"PrivateTmp":               "yes",
		"StateDirectory":           "walship/%i",
		"StateDirectoryMode":       "0700",
		"UMask":                    "0077",
		"Restart":                  "on-failure",
		"KillSignal":               "SIGTERM",
		"ExecReload":               "/bin/kill -HUP $MAINPID",
		"RestartPreventExitStatus": "2", // walship's usage errors
	}
	for k, v := range want {
		if got := u.get("Service", k); got != v {
			t.Errorf("[Service] %s=%q, want %q", k, got, v)
		}
	}
	for _, k := range []string{"ReadOnlyPaths", "LimitNOFILE", "MemoryMax", "CPUWeight", "IOWeight", "RestartSec", "TimeoutStopSec"} {
		if u.get("Service", k) == "" {
			t.Errorf("[Service] %s is not set", k)
		}
	}
	if rs, err := time.ParseDuration(u.get("Service", "RestartSec")); err != nil || rs < time.Second {
		t.Errorf("RestartSec=%q: want a Go-style duration of at least 1s, a backoff between restarts (%v)", u.get("Service", "RestartSec"), err)
	}

	argv := execStart(t, u)
	if len(argv) < 2 || argv[1] != "replicate" {
		t.Fatalf("ExecStart %q: want walship replicate", argv)
	}
	if v, _ := flagValue(argv, "config"); v != unitConfig {
		t.Errorf("ExecStart --config %q, want %q (the instance name picks the config)", v, unitConfig)
	}
	if v, _ := flagValue(argv, "state"); v != unitStateVar {
		t.Errorf("ExecStart --state %q, want %q (the StateDirectory)", v, unitStateVar)
	}
	// The stop timeout covers the agent's drain on SIGTERM plus the final
	// seal and state write.
	drain := 30 * time.Second // the agent's default
	if v, ok := flagValue(argv, "drain-timeout"); ok {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("ExecStart --drain-timeout %q: %v", v, err)
		}
		drain = d
	}
	stop, err := time.ParseDuration(u.get("Service", "TimeoutStopSec"))
	if err != nil {
		t.Fatalf("TimeoutStopSec=%q: want a Go-style duration: %v", u.get("Service", "TimeoutStopSec"), err)
	}
	if stop < drain+15*time.Second {
		t.Errorf("TimeoutStopSec=%v leaves less than 15s beyond the drain timeout %v: systemd would SIGKILL the agent while it uploads", stop, drain)
	}
}

// TestSystemdExecStartFlags: every flag the unit passes is one that walship
// replicate has (its --help lists them).
func TestSystemdExecStartFlags(t *testing.T) {
	argv := execStart(t, readUnit(t, unitPath))
	out, err := exec.Command(walshipBin(t), "replicate", "--help").CombinedOutput()
	if err != nil {
		t.Fatalf("walship replicate --help: %v\n%s", err, out)
	}
	help := string(out)
	flags := 0
	for _, a := range argv[2:] {
		name, ok := strings.CutPrefix(a, "--")
		if !ok {
			continue
		}
		name, _, _ = strings.Cut(name, "=")
		flags++
		if !strings.Contains(help, "\n  -"+name+" ") && !strings.Contains(help, "\n  -"+name+"\n") {
			t.Errorf("ExecStart passes --%s, which walship replicate --help does not list:\n%s", name, help)
		}
	}
	if flags < 2 {
		t.Errorf("ExecStart %q passes %d flags, want --config and --state at least", argv, flags)
	}
}

// TestSystemdExampleConfig: the example config loads, and fits the unit.
func TestSystemdExampleConfig(t *testing.T) {
	cfg, err := config.Load(exampleYML)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.State != "" {
		t.Errorf("state: %q in the example: the unit passes --state (its StateDirectory), which wins; leave it out", cfg.State)
	}
	if cfg.Source.WAL == "" || len(cfg.Stores) == 0 {
		t.Errorf("the example needs source.wal and a store: %+v", cfg)
	}
	for _, s := range cfg.Stores {
		if _, err := storeurl.Parse(s.URL); err != nil {
			t.Errorf("store %s: %v", s.Name, err)
		}
	}
	host, _, err := net.SplitHostPort(cfg.Metrics.Addr)
	if err != nil || !net.ParseIP(host).IsLoopback() {
		t.Errorf("metrics.addr %q: on the database's machine the endpoints stay on loopback (%v)", cfg.Metrics.Addr, err)
	}
	if len(cfg.Snapshot.Command) == 0 || cfg.Snapshot.Interval == 0 {
		t.Errorf("the example should take base snapshots with snapshot.command (hard links need write access the unit does not give)")
	}
}
