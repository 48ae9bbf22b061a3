package deploy

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// TestMain removes the walship binary built for the tests.
func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// needTool returns the path of a program the test needs. Without it the
// test is skipped, except in CI (CI=true), where the machine must have it.
func needTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not installed, and CI=true: the CI machine must have it (%v)", name, err)
		}
		t.Skipf("%s is not installed: %v", name, err)
	}
	return p
}

var (
	buildOnce sync.Once
	binDir    string
	binPath   string
	buildErr  error
)

// walshipBin builds ./cmd/walship once per test run and returns its path.
func walshipBin(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "walship-deploy-test-")
		if buildErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "walship")
		out, err := exec.Command("go", "build", "-o", binPath, "github.com/walship/walship/cmd/walship").CombinedOutput()
		if err != nil {
			buildErr = &buildError{err: err, out: string(out)}
		}
	})
	if buildErr != nil {
		t.Fatalf("build walship: %v", buildErr)
	}
	return binPath
}

type buildError struct {
	err error
	out string
}

func (e *buildError) Error() string { return e.err.Error() + "\n" + e.out }

// unitFile is a parsed systemd unit: section -> key -> values, in order
// (a key may be given more than once).
type unitFile map[string]map[string][]string

func readUnit(t *testing.T, path string) unitFile {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	u := unitFile{}
	section := ""
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || line[0] == '#' || line[0] == ';':
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = line[1 : len(line)-1]
			u[section] = map[string][]string{}
		case strings.HasSuffix(line, `\`):
			t.Fatalf("%s:%d: continued lines are not parsed by this test; keep each setting on one line", path, n)
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || section == "" {
				t.Fatalf("%s:%d: not a setting: %q", path, n, line)
			}
			k = strings.TrimSpace(k)
			u[section][k] = append(u[section][k], strings.TrimSpace(v))
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return u
}

// get returns the last value of a setting (the one systemd uses), or "".
func (u unitFile) get(section, key string) string {
	vs := u[section][key]
	if len(vs) == 0 {
		return ""
	}
	return vs[len(vs)-1]
}

const (
	unitPath     = "systemd/walship@.service"
	exampleYML   = "systemd/example.yml"
	statefulSet  = "kubernetes/statefulset.yaml"
	alertsPath   = "prometheus/alerts.yml"
	dashPath     = "grafana/walship.json"
	unitConfig   = "/etc/walship/%i.yml" // what the unit's --config names
	unitStateVar = "${STATE_DIRECTORY}"  // what the unit's --state names
)

// execStart returns the unit's ExecStart as argv.
func execStart(t *testing.T, u unitFile) []string {
	t.Helper()
	v := u.get("Service", "ExecStart")
	if v == "" {
		t.Fatal("the unit has no ExecStart")
	}
	if strings.ContainsAny(v, `"'`) || strings.ContainsAny(v[:1], "-@:+!") {
		t.Fatalf("ExecStart %q: quotes and prefixes are not parsed by this test", v)
	}
	return strings.Fields(v)
}

// flagValue returns the value after --name (or -name) in argv.
func flagValue(argv []string, name string) (string, bool) {
	for i, a := range argv {
		if (a == "--"+name || a == "-"+name) && i+1 < len(argv) {
			return argv[i+1], true
		}
		if v, ok := strings.CutPrefix(a, "--"+name+"="); ok {
			return v, true
		}
	}
	return "", false
}
