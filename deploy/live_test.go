package deploy

import (
	"net/http"
	"syscall"
	"testing"
	"time"
)

// TestLiveAgent runs one agent with the unit's command line and checks the
// deployment files against it, in order: the last step stops it.
func TestLiveAgent(t *testing.T) {
	a := startAgent(t)
	fams := a.scrape(t)
	t.Run("alert rules name exported metrics", func(t *testing.T) {
		checkExported(t, alertsPath, alertExprs(t), fams)
	})
	t.Run("alert annotations name labels the series have", func(t *testing.T) {
		checkAnnotationLabels(t, readRules(t), fams)
	})
	t.Run("dashboard names exported metrics", func(t *testing.T) {
		checkExported(t, dashPath, dashboardExprs(t), fams)
	})
	t.Run("probes and scrape paths are served", func(t *testing.T) {
		if code, _ := a.get(t, "/no-such-endpoint"); code != http.StatusNotFound {
			t.Fatalf("GET /no-such-endpoint: %d, want 404 (else this check proves nothing)", code)
		}
		for _, p := range k8sHTTPPaths(t) {
			if code, body := a.get(t, p); code != http.StatusOK {
				t.Errorf("%s names GET %s; a healthy agent answers %d: %s", statefulSet, p, code, body)
			}
		}
	})
	t.Run("ExecReload's SIGHUP reloads limits", func(t *testing.T) {
		if v, _ := a.limitsNow(t)["UploadBytesPerSec"].(float64); v != 0 {
			t.Fatalf("global upload limit %v before the reload, want 0 (unlimited, as configured)", v)
		}
		a.writeConfig(t, a.port(t), "1MiB")
		if err := a.cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		a.waitFor(t, "GET /limits shows the reloaded global upload limit", func() bool {
			v, _ := a.limitsNow(t)["UploadBytesPerSec"].(float64)
			return v == 1<<20
		})
	})
	t.Run("SIGTERM stops it within TimeoutStopSec", func(t *testing.T) {
		stop, err := time.ParseDuration(readUnit(t, unitPath).get("Service", "TimeoutStopSec"))
		if err != nil {
			t.Fatal(err)
		}
		if err := a.stop(stop); err != nil {
			t.Fatalf("after SIGTERM: %v (exit 0 wanted)\n%s", err, a.logText())
		}
	})
}
