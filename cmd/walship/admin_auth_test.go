package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/walship/walship/agent"
	"github.com/walship/walship/config"
	"github.com/walship/walship/throttle"
)

// limitsMux serves the limits endpoints of one global and one store
// limiter (the agent's token guard in front is tested in agent/).
func limitsMux(t *testing.T) (*http.ServeMux, *limits, *bytes.Buffer) {
	t.Helper()
	global, err := throttle.New(throttle.Config{UploadBytesPerSec: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	// A config may set a store below the HTTP floors; a PUT that does not
	// touch it must still work.
	store, err := throttle.New(throttle.Config{UploadBytesPerSec: 1000})
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	l := newLimits(global, []agent.Store{{Name: "s3", Limiter: store}}, slog.New(slog.NewTextHandler(&logs, nil)))
	mux := http.NewServeMux()
	l.register(mux)
	return mux, l, &logs
}

func TestLimitFloors(t *testing.T) {
	for _, tc := range []struct {
		body string
		code int
		says string
	}{
		{`{"global":{"RequestsPerSec":1e-9}}`, 400, "RequestsPerSec is 1e-09: use at least 1"},
		{`{"global":{"RequestsPerSec":0.5}}`, 400, "use at least 1"},
		{`{"global":{"UploadBytesPerSec":1000}}`, 400, "use at least 65536"},
		{`{"global":{"DownloadBytesPerSec":65535}}`, 400, "DownloadBytesPerSec is 65535"},
		{`{"stores":{"s3":{"BulkUploadBytesPerSec":1}}}`, 400, "store s3 BulkUploadBytesPerSec"},
		{`{"global":{"UploadBytesPerSec":-1}}`, 400, "positive rate"},
		{`{"global":{"RequestsPerSec":-5}}`, 400, "requests_per_sec is -5"},
		{`{"global":{"RequestsPerSec":1e999}}`, 400, "bad limits document"},
		{`{"global":{"RequestsPerSec":"NaN"}}`, 400, "bad limits document"},
		{`{"global":{"RequestsPerSec":NaN}}`, 400, "bad limits document"},
		{`{"global":{"Upload":1}}`, 400, "unknown field"},
		{`{"stores":{"nope":{}}}`, 400, `no store named "nope"`},
		{`{"global":{"UploadBytesPerSec":0,"RequestsPerSec":0}}`, 200, `"UploadBytesPerSec":0`},
		{`{"global":{"UploadBytesPerSec":65536,"RequestsPerSec":1}}`, 200, `"UploadBytesPerSec":65536`},
	} {
		mux, l, _ := limitsMux(t)
		before := l.doc()
		r := httptest.NewRequest("PUT", "/limits", strings.NewReader(tc.body))
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, r)
		if w.Code != tc.code || !strings.Contains(w.Body.String(), tc.says) {
			t.Errorf("PUT %s: %d %q, want %d saying %q", tc.body, w.Code, w.Body, tc.code, tc.says)
		}
		after := l.doc()
		if changed := after.Global != before.Global; changed != (tc.code == 200) {
			t.Errorf("PUT %s: global limits %+v -> %+v", tc.body, before.Global, after.Global)
		}
		if after.Stores["s3"] != before.Stores["s3"] {
			t.Errorf("PUT %s changed the store's limits: %+v", tc.body, after.Stores["s3"])
		}
	}
}

func TestAdminTokenSources(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "token")
	write := func(content string, mode os.FileMode) {
		if err := os.WriteFile(file, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(file, mode); err != nil {
			t.Fatal(err)
		}
	}
	withFile := &config.Config{Metrics: config.Metrics{TokenFile: file}}

	t.Setenv(agent.TokenEnv, "from-the-environment-0123")
	write("from-the-file-0123456789\n", 0o600)
	if tok, err := adminToken(withFile); err != nil || tok != "from-the-file-0123456789" {
		t.Errorf("token file: %q %v", tok, err)
	}
	if tok, err := adminToken(nil); err != nil || tok != "from-the-environment-0123" {
		t.Errorf("environment: %q %v", tok, err)
	}
	write("from-the-file-0123456789\n", 0o644)
	if _, err := adminToken(withFile); err == nil || !strings.Contains(err.Error(), "chmod 600 "+file) {
		t.Errorf("a token file others can read: %v", err)
	}
	write("\n", 0o600)
	if _, err := adminToken(withFile); err == nil || !strings.Contains(err.Error(), "is empty") {
		t.Errorf("an empty token file: %v", err)
	}
	os.Remove(file)
	if _, err := adminToken(withFile); err == nil || !strings.Contains(err.Error(), "metrics.token_file") {
		t.Errorf("a missing token file: %v", err)
	}
	t.Setenv(agent.TokenEnv, "")
	if tok, err := adminToken(nil); err != nil || tok != "" {
		t.Errorf("no source: %q %v", tok, err)
	}
}

// TestAdminCallSendsToken checks what the CLI sends: the bearer token and
// a JSON content type with a body.
func TestAdminCallSendsToken(t *testing.T) {
	var got http.Header
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Clone()
		io.Copy(io.Discard, r.Body)
	}))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	resp, err := adminCall(context.Background(), "PUT", addr, "/limits", []byte(`{}`), "tok-0123456789abcdef")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got.Get("Authorization") != "Bearer tok-0123456789abcdef" || got.Get("Content-Type") != "application/json" {
		t.Fatalf("sent headers %v", got)
	}
}

// TestSnapshotCommandNeedsToken: without a token walship snapshot says
// where to put one instead of asking the agent.
func TestSnapshotCommandNeedsToken(t *testing.T) {
	t.Setenv(agent.TokenEnv, "")
	err := cmdSnapshot([]string{"--addr", "127.0.0.1:1"}, io.Discard)
	if err == nil || !strings.Contains(err.Error(), agent.TokenEnv) || !strings.Contains(err.Error(), "metrics.token_file") {
		t.Fatalf("snapshot without a token: %v", err)
	}
}
