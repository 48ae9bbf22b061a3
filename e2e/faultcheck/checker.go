package faultcheck

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"cloud.google.com/go/storage"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	mgo "github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/walship/walship/crypt"
)

// Options shape a check.
type Options struct {
	Seed     int64
	Runs     int
	Only     int           // run only this run number (-1: all)
	Duration time.Duration // planned length of a run's steps
	For      time.Duration // with Runs 0: start runs until this much time has passed
	Steps    int           // at most this many steps per run
	Workdir  string        // where runs live (a temp dir if empty); failed runs' dirs are kept
	Verbose  bool
	Out      io.Writer // progress and reports
	Walship  string    // a walship binary; built from this module if empty
	CI       bool      // a missing tmpfs is a failure, not a skip
	OnRun    func(*RunResult)
}

// Env is what the checker needs from scripts/testenv.sh.
type Env struct {
	Toxiproxy                          string // host:port of the API
	MinioBin, MinioAccess, MinioSecret string
	AzureEndpoint, AzureAccount        string // http://127.0.0.1:PORT/ACCOUNT
	AzureKey                           string
	GCSBin                             string // fake-gcs-server
	Pidfile                            string
}

// EnvFromOS reads the environment testenv.sh exports and names what is
// missing.
func EnvFromOS() (Env, []string) {
	var missing []string
	get := func(n string) string {
		v := os.Getenv(n)
		if v == "" {
			missing = append(missing, n)
		}
		return v
	}
	e := Env{
		Toxiproxy:     get("WALSHIP_TEST_TOXIPROXY"),
		MinioBin:      get("WALSHIP_TEST_MINIO_BIN"),
		MinioAccess:   get("WALSHIP_TEST_MINIO_ACCESS_KEY"),
		MinioSecret:   get("WALSHIP_TEST_MINIO_SECRET_KEY"),
		AzureEndpoint: get("WALSHIP_TEST_AZURITE_ENDPOINT"),
		AzureAccount:  get("WALSHIP_TEST_AZURITE_ACCOUNT"),
		AzureKey:      get("WALSHIP_TEST_AZURITE_KEY"),
		GCSBin:        get("WALSHIP_TEST_GCS_BIN"),
		Pidfile:       os.Getenv("WALSHIP_TEST_PIDFILE"),
	}
	return e, missing
}

// Checker holds what every run shares: the walship binary, Toxiproxy, a
// MinIO and a fake-gcs-server of its own, a bucket and an Azurite
// container.
type Checker struct {
	opt       Options
	env       Env
	bin       string
	tmp       string
	tox       *Toxiproxy
	minio     *Server
	mc        *mgo.Client // MinIO directly, to read what a store holds
	gcs       *Server
	gc        *storage.Client // fake-gcs-server directly: buckets, and what a store holds
	bucket    string
	container string
	nonce     string
	childEnv  []string
}

// New prepares a checker; Close releases everything it made.
func New(ctx context.Context, opt Options, env Env) (c *Checker, err error) {
	if opt.Out == nil {
		opt.Out = io.Discard
	}
	c = &Checker{opt: opt, env: env, tox: NewToxiproxy(env.Toxiproxy), nonce: randHex(4)}
	defer func() {
		if err != nil {
			c.Close()
		}
	}()
	if opt.Workdir == "" {
		if c.tmp, err = os.MkdirTemp("", "faultcheck-*"); err != nil {
			return nil, err
		}
		c.opt.Workdir = c.tmp
	} else if err = os.MkdirAll(opt.Workdir, 0o755); err != nil {
		return nil, err
	}
	if err = c.tox.Version(ctx); err != nil {
		return nil, fmt.Errorf("Toxiproxy at %s: %w", env.Toxiproxy, err)
	}
	c.bin = opt.Walship
	if c.bin == "" {
		c.bin = filepath.Join(c.opt.Workdir, "walship")
		start := time.Now()
		if err := buildWalship(ctx, c.bin); err != nil {
			return nil, err
		}
		c.logf("built walship in %v", time.Since(start).Round(time.Millisecond))
	}
	ports, err := freePorts(3)
	if err != nil {
		return nil, err
	}
	c.minio = newMinio(env, filepath.Join(c.opt.Workdir, "minio-data"), ports[0], ports[1])
	if err = c.minio.Start(ctx); err != nil {
		return nil, err
	}
	c.gcs = newFakeGCS(env, filepath.Join(c.opt.Workdir, "gcs-data"), ports[2])
	if err = os.MkdirAll(c.gcs.Data, 0o700); err != nil {
		return nil, err
	}
	if err = c.gcs.Start(ctx); err != nil {
		return nil, err
	}
	if c.gc, err = newGCSClient(ctx, c.gcs.Endpoint()); err != nil {
		return nil, err
	}
	c.bucket = "faultcheck-" + c.nonce
	if c.mc, err = mgo.New(c.minio.Endpoint(), &mgo.Options{Creds: credentials.NewStaticV4(env.MinioAccess, env.MinioSecret, "")}); err != nil {
		return nil, err
	}
	if err = c.mc.MakeBucket(ctx, c.bucket, mgo.MakeBucketOptions{}); err != nil {
		return nil, fmt.Errorf("make bucket: %w", err)
	}
	az, err := c.containerClient("faultcheck-" + c.nonce)
	if err != nil {
		return nil, err
	}
	if _, err = az.Create(ctx, nil); err != nil {
		return nil, fmt.Errorf("create Azurite container: %w", err)
	}
	c.container = "faultcheck-" + c.nonce
	c.childEnv = append(childEnviron(), "AZURE_STORAGE_ACCOUNT="+env.AzureAccount, "AZURE_STORAGE_KEY="+env.AzureKey,
		"MINIO_ACCESS_KEY="+env.MinioAccess, "MINIO_SECRET_KEY="+env.MinioSecret)
	return c, nil
}

// buildWalship builds this module's walship command into bin.
func buildWalship(ctx context.Context, bin string) error {
	out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/walship/walship/cmd/walship").CombinedOutput()
	if err != nil {
		return fmt.Errorf("go build walship: %v\n%s", err, out)
	}
	return nil
}

// childEnviron is this process's environment without store credentials
// (each run gives walship its own) and without keys: no identity reaches
// walship but by --identity, so a restore meant to run without one finds
// none.
func childEnviron() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AZURE_STORAGE_") && !strings.HasPrefix(kv, "MINIO_ACCESS_KEY=") && !strings.HasPrefix(kv, "MINIO_SECRET_KEY=") &&
			!strings.HasPrefix(kv, crypt.IdentityEnv+"=") && !strings.HasPrefix(kv, crypt.PassphraseEnv+"=") {
			env = append(env, kv)
		}
	}
	return env
}

// Close stops MinIO and fake-gcs-server, deletes the Azurite container
// and the temp dir.
func (c *Checker) Close() {
	if c.gc != nil {
		c.gc.Close()
	}
	for _, srv := range []*Server{c.minio, c.gcs} {
		if srv != nil {
			srv.Signal(syscall.SIGCONT)
			if err := srv.Kill(); err != nil {
				c.logf("%v", err)
			}
		}
	}
	if c.container != "" {
		if az, err := c.containerClient(c.container); err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			az.Delete(ctx, nil)
			cancel()
		}
	}
	if c.tmp != "" {
		os.RemoveAll(c.tmp)
	} else if c.minio != nil {
		os.RemoveAll(c.minio.Data)
		if c.gcs != nil {
			os.RemoveAll(c.gcs.Data)
		}
		if c.opt.Walship == "" {
			os.Remove(c.bin)
		}
	}
}

// containerClient reaches a container on Azurite directly (not through
// Toxiproxy), with the emulator's shared key.
func (c *Checker) containerClient(name string) (*container.Client, error) {
	cred, err := container.NewSharedKeyCredential(c.env.AzureAccount, c.env.AzureKey)
	if err != nil {
		return nil, err
	}
	return container.NewClientWithSharedKeyCredential(strings.TrimSuffix(c.env.AzureEndpoint, "/")+"/"+name, cred, nil)
}

func (c *Checker) logf(format string, a ...any) {
	fmt.Fprintf(c.opt.Out, "faultcheck: "+format+"\n", a...)
}

func (c *Checker) vlogf(format string, a ...any) {
	if c.opt.Verbose {
		c.logf(format, a...)
	}
}

// Check runs opt.Runs runs (or only opt.Only) and adds them up.
func Check(ctx context.Context, opt Options, env Env) (*Summary, error) {
	c, err := New(ctx, opt, env)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	s := NewSummary()
	start := time.Now()
	for r := 0; opt.Runs == 0 || r < opt.Runs; r++ {
		if opt.Only >= 0 && r != opt.Only {
			continue
		}
		if ctx.Err() != nil || (opt.Runs == 0 && time.Since(start) >= opt.For) {
			break
		}
		p := MakePlan(opt.Seed, r, opt.Duration, opt.Steps)
		res := c.Run(ctx, p)
		s.Add(res)
		if opt.OnRun != nil {
			opt.OnRun(res)
		}
		if res.Failed() {
			res.Report(c.opt.Out)
		} else {
			c.logf("seed %d run %d ok in %v: %s, %d entries, %d restores, %d compared, stale %.2fs",
				p.Seed, p.Run, res.Elapsed.Round(time.Millisecond), p.Focus, res.Written, len(res.Restores), compared(res), res.Staleness)
		}
		if opt.Runs == 0 && s.Runs%25 == 0 { // a soak: a summary now and then
			s.Elapsed = time.Since(start)
			s.Print(c.opt.Out)
		}
	}
	s.Elapsed = time.Since(start)
	return s, ctx.Err()
}

func compared(r *RunResult) int {
	n := 0
	for _, o := range r.Restores {
		n += o.Compared
	}
	return n
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
