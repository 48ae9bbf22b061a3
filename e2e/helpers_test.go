package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	mgo "github.com/minio/minio-go/v7"
	tidwal "github.com/tidwall/wal"

	"github.com/walship/walship/backends/azure"
	"github.com/walship/walship/backends/minio"
	"github.com/walship/walship/backends/storetest"
	"github.com/walship/walship/internal/testwal"
)

var (
	buildOnce sync.Once
	binDir    string
	binPath   string
	buildErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// walshipBin builds the walship command once per test binary.
func walshipBin(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		start := time.Now()
		binDir, buildErr = os.MkdirTemp("", "walship-e2e-bin-*")
		if buildErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "walship")
		args := []string{"build", "-o", binPath}
		if raceEnabled {
			args = append(args, "-race")
		}
		args = append(args, "github.com/walship/walship/cmd/walship")
		out, err := exec.Command("go", args...).CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		t.Logf("go %s: %v", strings.Join(args, " "), time.Since(start).Round(time.Millisecond))
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// result is what one walship run did.
type result struct {
	code           int
	stdout, stderr string
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
}

// walship runs the command to completion (at most 60 s) with the test's
// environment plus env, and checks its output leaks no credential.
func walship(t *testing.T, env []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, walshipBin(t), args...)
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := result{code: exitCode(t, err), stdout: stdout.String(), stderr: stderr.String()}
	noSecrets(t, strings.Join(args, " "), r.stdout+r.stderr)
	return r
}

func exitCode(t *testing.T, err error) int {
	t.Helper()
	if err == nil {
		return 0
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) && ee.Exited() {
		return ee.ExitCode()
	}
	t.Fatalf("walship did not exit normally: %v", err)
	return -1
}

// secrets are the credentials testenv.sh exports; no output may hold one.
func secrets() []string {
	var out []string
	for _, n := range []string{"WALSHIP_TEST_MINIO_SECRET_KEY", "WALSHIP_TEST_MINIO_ACCESS_KEY", "WALSHIP_TEST_AZURITE_KEY",
		"AWS_SECRET_ACCESS_KEY", "MINIO_SECRET_KEY", "AZURE_STORAGE_CONNECTION_STRING"} {
		if v := os.Getenv(n); len(v) >= 6 {
			out = append(out, v)
		}
	}
	return out
}

func noSecrets(t *testing.T, what, out string) {
	t.Helper()
	for _, s := range secrets() {
		if strings.Contains(out, s) {
			t.Errorf("walship %s: output leaks a credential:\n%s", what, out)
		}
	}
}

const maxEntry = 1024

// startWriter starts a steady in-process writer (testwal.Steady).
func startWriter(t *testing.T, dir string, seed int64, every time.Duration) *testwal.Steady {
	t.Helper()
	return startWriterSize(t, dir, seed, every, maxEntry)
}

// startWriterSize is startWriter with entries of at most maxSize bytes
// (testwal.Entry's mix: most are small).
func startWriterSize(t *testing.T, dir string, seed int64, every time.Duration, maxSize int) *testwal.Steady {
	t.Helper()
	return testwal.StartSteady(t, dir, testwal.SteadyOptions{Seed: seed, Every: every, MaxSize: maxSize})
}

// writeLog writes n entries at once and closes the log.
func writeLog(t *testing.T, dir string, seed int64, n int) [][]byte {
	t.Helper()
	l, err := tidwal.Open(dir, &tidwal.Options{LogFormat: tidwal.Binary, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var want [][]byte
	for i := 1; i <= n; i++ {
		d := testwal.Entry(seed, uint64(i), maxEntry)
		if err := l.Write(uint64(i), d); err != nil {
			t.Fatal(err)
		}
		want = append(want, d)
	}
	return want
}

// shipped is the agent's shipped index from its state dir.
func shipped(stateDir string) uint64 { return testwal.Shipped(stateDir) }

// agent is a running `walship replicate`.
type agent struct {
	cmd    *exec.Cmd
	stderr *syncBuffer
	done   chan struct{}
	err    error
}

func startAgent(t *testing.T, env []string, args ...string) *agent {
	t.Helper()
	cmd := exec.Command(walshipBin(t), append([]string{"replicate"}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	a := &agent{cmd: cmd, stderr: &syncBuffer{}, done: make(chan struct{})}
	cmd.Stderr = a.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { a.err = cmd.Wait(); close(a.done) }()
	t.Cleanup(func() {
		select {
		case <-a.done:
		default:
			cmd.Process.Kill()
			<-a.done
		}
	})
	return a
}

func (a *agent) exited() bool {
	select {
	case <-a.done:
		return true
	default:
		return false
	}
}

// waitShipped waits until the agent's state says index n is shipped.
func (a *agent) waitShipped(t *testing.T, stateDir string, n uint64, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for shipped(stateDir) < n {
		if a.exited() {
			t.Fatalf("agent exited (%v) with %d of %d entries shipped:\n%s", a.err, shipped(stateDir), n, a.stderr)
		}
		if time.Now().After(deadline) {
			t.Fatalf("agent shipped %d of %d entries in %v:\n%s", shipped(stateDir), n, timeout, a.stderr)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// term stops the agent with SIGTERM and returns its exit status.
func (a *agent) term(t *testing.T) int {
	t.Helper()
	if err := a.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-a.done:
	case <-time.After(40 * time.Second):
		a.cmd.Process.Kill()
		<-a.done
		t.Fatalf("agent did not stop within 40s of SIGTERM:\n%s", a.stderr)
	}
	noSecrets(t, "replicate", a.stderr.String())
	return exitCode(t, a.err)
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// compareRestored checks that the tidwall/wal log in dir holds exactly
// want: first index 1, last index len(want), every entry byte-identical.
func compareRestored(t *testing.T, dir string, want [][]byte) {
	t.Helper()
	l, err := tidwal.Open(dir, &tidwal.Options{LogFormat: tidwal.Binary})
	if err != nil {
		t.Fatalf("open restored log: %v", err)
	}
	defer l.Close()
	first, err1 := l.FirstIndex()
	last, err2 := l.LastIndex()
	if err1 != nil || err2 != nil || first != 1 || last != uint64(len(want)) {
		t.Fatalf("restored log holds %d..%d (%v %v), source 1..%d", first, last, err1, err2, len(want))
	}
	for i := range want {
		got, err := l.Read(uint64(i + 1))
		if err != nil || !bytes.Equal(got, want[i]) {
			t.Fatalf("restored entry %d differs from the source (%d bytes vs %d, %v)", i+1, len(got), len(want[i]), err)
		}
	}
}

// segment is one entry of `walship list URL segments --json`.
type segment struct {
	Key  string `json:"key"`
	Size int64  `json:"size"`
	Name struct {
		Timeline    uint32
		First, Last uint64
	} `json:"name"`
}

// minioServer is the MinIO of testenv.sh and a bucket made once for this
// test binary (with minio-go, as the store tests do).
type minioServer struct {
	endpoint, access, secret, bucket string
	client                           *mgo.Client
}

var (
	minioOnce sync.Once
	minioSrv  minioServer
	minioErr  error
)

func minioEnv(t *testing.T) minioServer {
	t.Helper()
	v := storetest.Env(t, "WALSHIP_TEST_MINIO_ENDPOINT", "WALSHIP_TEST_MINIO_ACCESS_KEY", "WALSHIP_TEST_MINIO_SECRET_KEY",
		"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "MINIO_ACCESS_KEY", "MINIO_SECRET_KEY")
	minioOnce.Do(func() {
		minioSrv = minioServer{endpoint: v[0], access: v[1], secret: v[2], bucket: storetest.RandomName("e2e-")}
		minioSrv.client, minioErr = newMinioClient(minioSrv, minioSrv.bucket)
		if minioErr == nil {
			minioErr = minioSrv.client.MakeBucket(context.Background(), minioSrv.bucket, mgo.MakeBucketOptions{})
		}
	})
	if minioErr != nil {
		t.Fatalf("create test bucket: %v", minioErr)
	}
	return minioSrv
}

func newMinioClient(srv minioServer, bucket string) (*mgo.Client, error) {
	st, err := minio.New(minio.Options{Endpoint: srv.endpoint, Bucket: bucket, DisableTLS: true,
		AccessKey: srv.access, SecretKey: srv.secret})
	if err != nil {
		return nil, err
	}
	return st.Client(), nil
}

// azuriteServer is the Azurite of testenv.sh and a container made once.
type azuriteServer struct {
	container string
	client    *container.Client
}

var (
	azOnce sync.Once
	azSrv  azuriteServer
	azErr  error
)

func azuriteEnv(t *testing.T) azuriteServer {
	t.Helper()
	v := storetest.Env(t, "WALSHIP_TEST_AZURITE_ENDPOINT", "WALSHIP_TEST_AZURITE_ACCOUNT", "WALSHIP_TEST_AZURITE_KEY",
		"AZURE_STORAGE_CONNECTION_STRING")
	azOnce.Do(func() {
		azSrv.container = storetest.RandomName("e2e-")
		var st *azure.Store
		st, azErr = azure.New(azure.Options{Container: azSrv.container, Endpoint: v[0], Account: v[1], Key: v[2]})
		if azErr != nil {
			return
		}
		azSrv.client = st.ContainerClient()
		_, azErr = azSrv.client.Create(context.Background(), nil)
	})
	if azErr != nil {
		t.Fatalf("create test container: %v", azErr)
	}
	return azSrv
}
