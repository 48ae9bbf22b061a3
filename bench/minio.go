package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	mgo "github.com/minio/minio-go/v7"
	mcreds "github.com/minio/minio-go/v7/pkg/credentials"
	"golang.org/x/sync/errgroup"

	"github.com/walship/walship/agent"
	"github.com/walship/walship/backends"
	"github.com/walship/walship/backends/metered"
	"github.com/walship/walship/pitr"
	"github.com/walship/walship/segments"
)

// minioVars are the variables scripts/testenv.sh exports for its MinIO.
var minioVars = []string{"WALSHIP_TEST_MINIO_ENDPOINT", "WALSHIP_TEST_MINIO_ACCESS_KEY", "WALSHIP_TEST_MINIO_SECRET_KEY"}

type minioServer struct{ endpoint, access, secret string }

func minioConfigured() error {
	var missing []string
	for _, v := range minioVars {
		if os.Getenv(v) == "" {
			missing = append(missing, v)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("-store minio needs a MinIO server (%s unset): run scripts/bench.sh, which starts one",
			strings.Join(missing, ", "))
	}
	return nil
}

// restoreParallel is pitr's default number of concurrent segment fetches;
// the raw GET baseline uses the same.
const restoreParallel = 4

// clientResult is one client's measurements.
type clientResult struct {
	client                     string
	segments                   int
	storedBytes                int64
	shipSecs, rawPutSecs       float64
	rawPutDirect, rawGetDirect float64 // the raw calls without the HTTP counter
	drainSecs                  float64 // uploads of a sealed backlog (see drain)
	restoreSecs, rawGetSec     float64
	estimate                   estimated
	ship, restore              metered.Counts
	shipCPU, restoreCPU        float64 // CPU seconds of this process
	shipTimes                  times   // time inside store calls
	restoreTimes               times
	shipHTTP, restoreHTTP      map[string]int64 // HTTP requests by method
}

// benchMinIO generates one WAL and, for each client, ships it to a MinIO
// bucket with the agent and restores it with pitr (both through a metered
// store), then times plain PutObject/GetObject calls of the same stored
// segment bytes with that client's SDK.
func benchMinIO(dir string, size int64, clients []string, codec segments.Codec) error {
	var srv minioServer
	if slices.Contains(clients, "minio") || slices.Contains(clients, "s3") {
		if err := minioConfigured(); err != nil {
			return err
		}
		srv = minioServer{os.Getenv(minioVars[0]), os.Getenv(minioVars[1]), os.Getenv(minioVars[2])}
	}
	ctx := context.Background()
	walDir := filepath.Join(dir, "wal")
	walBytes, err := generate(walDir, size)
	if err != nil {
		return err
	}
	last, err := lastIndex(walDir)
	if err != nil {
		return err
	}
	bucket := fmt.Sprintf("walship-bench-%d", time.Now().UnixNano())
	if srv.endpoint != "" {
		mc, err := mgo.New(srv.endpoint, &mgo.Options{Creds: mcreds.NewStaticV4(srv.access, srv.secret, ""),
			Region: "us-east-1", BucketLookup: mgo.BucketLookupPath})
		if err != nil {
			return err
		}
		if err := mc.MakeBucket(ctx, bucket, mgo.MakeBucketOptions{}); err != nil {
			return fmt.Errorf("create bucket %s: %w", bucket, err)
		}
	}
	fmt.Printf("\nobject stores, bucket %s: source WAL %s (%d entries of JSON-like records), compression %s\n", bucket, human(walBytes), last, codec)
	var results []clientResult
	for _, c := range clients {
		r, err := benchClient(ctx, c, srv, bucket, dir, walDir, walBytes, last, codec)
		if err != nil {
			return fmt.Errorf("client %s: %w", c, err)
		}
		results = append(results, r)
	}
	printMinIO(results, walBytes)
	return nil
}

// uploadsInFlight is the agent's default number of uploads per store at
// once; the raw PUT baseline uses the same.
const uploadsInFlight = 4

// download copies one object of st into a local file.
func download(ctx context.Context, st backends.Store, key, path string) error {
	rc, err := st.Get(ctx, key, 0, -1)
	if err != nil {
		return err
	}
	defer rc.Close()
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, rc); err != nil {
		f.Close()
		return fmt.Errorf("download %s: %w", key, err)
	}
	return f.Close()
}

func benchClient(ctx context.Context, client string, srv minioServer, minioBucket, dir, walDir string, walBytes int64, last uint64, codec segments.Codec) (clientResult, error) {
	r := clientResult{client: client}
	prefix := client + "-walship"
	hostport, bucket, err := server(client, srv, minioBucket)
	if err != nil {
		return r, err
	}
	hc, err := newHTTPCounter(hostport, client == "gcs")
	if err != nil {
		return r, err
	}
	defer hc.close()
	tg, err := newTarget(ctx, client, hc.addr, bucket, prefix, srv)
	if err != nil {
		return r, err
	}
	defer tg.close()
	inner := tg.store
	if err := inner.(backends.Checker).Check(ctx); err != nil {
		return r, err
	}
	hc.take()
	tm := &timed{Store: inner}
	st := metered.New(tm) // agent/pitr -> metered -> timed -> store
	defer st.Close()

	// Ship: from a backlog to every entry durable and verified in the store.
	a, err := agent.New(agent.Options{WALDir: walDir, StateDir: filepath.Join(dir, "state-"+client), Codec: codec,
		Stores: []agent.Store{{Store: st}}, SealInterval: 50 * time.Millisecond, UploadsInFlight: uploadsInFlight,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		return r, err
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	cpu0 := cpuSeconds()
	start := time.Now()
	go func() { done <- a.Run(runCtx) }()
	for a.Status().Stores[0].Shipped < last {
		select {
		case err := <-done:
			cancel()
			a.Close()
			return r, fmt.Errorf("agent stopped: %v", err)
		case <-time.After(time.Millisecond):
		}
	}
	r.shipSecs = time.Since(start).Seconds()
	r.shipCPU = cpuSeconds() - cpu0
	r.shipTimes = tm.times()
	cancel()
	err = <-done
	a.Close()
	if err != nil {
		return r, fmt.Errorf("agent: %w", err)
	}
	r.ship = st.Counts()
	r.shipHTTP = hc.take()

	// What the agent stored.
	type object struct {
		key  string
		size int64
	}
	var objs []object
	if err := inner.List(ctx, segments.SegmentsPrefix, "", func(oi backends.ObjectInfo) error {
		objs = append(objs, object{oi.Key, oi.Size})
		r.storedBytes += oi.Size
		return nil
	}); err != nil {
		return r, err
	}
	r.segments = len(objs)

	// Restore through the metered store.
	out := filepath.Join(dir, "restored-"+client)
	before, beforeT := st.Counts(), tm.times()
	cpu0 = cpuSeconds()
	est, err := restoreEstimated(ctx, st, out, pitr.Options{})
	if err != nil {
		return r, err
	}
	res := est.res
	r.restoreSecs = est.took.Seconds()
	r.estimate = est
	r.restoreCPU = cpuSeconds() - cpu0
	r.restoreTimes = tm.times().sub(beforeT)
	r.restore = st.Counts().Sub(before)
	r.restoreHTTP = hc.take()
	if res.To != last {
		return r, fmt.Errorf("restored entries %d..%d, source has 1..%d", res.From, res.To, last)
	}
	if err := sameLog(walDir, filepath.Join(out, "wal")); err != nil {
		return r, err
	}
	os.RemoveAll(out)

	// Raw baseline: the same segment bytes (fetched untimed into local
	// files, as the agent's spool holds them), put one object at a time and
	// got back restoreParallel at a time, with the client's own SDK.
	rawDir := filepath.Join(dir, "raw-"+client)
	defer os.RemoveAll(rawDir)
	if err := os.MkdirAll(rawDir, 0o755); err != nil {
		return r, err
	}
	files := make([]string, len(objs))
	for i, ob := range objs {
		files[i] = filepath.Join(rawDir, fmt.Sprintf("%06d", i))
		if err := download(ctx, inner, ob.key, files[i]); err != nil {
			return r, err
		}
	}
	// Through the HTTP counter, as walship's requests go: the ratios'
	// basis. Straight to the server: for reference.
	// The drain and the raw PUTs alternate, drainRounds times each; the
	// best of each counts, so that a moment of noise from the rest of the
	// machine does not decide the ratio. Every round is printed.
	rawPrefix, directPrefix := client+"-raw/", client+"-raw-direct/"
	if r.rawPutDirect, err = rawPuts(ctx, tg.direct, directPrefix, files); err != nil {
		return r, err
	}
	var rounds []string
	for round := range drainRounds {
		prefix := rawPrefix
		if round > 0 {
			prefix = fmt.Sprintf("%s-raw-%d/", client, round)
		}
		put, err := rawPuts(ctx, tg.proxied, prefix, files)
		if err != nil {
			return r, err
		}
		hc.take() // the baseline's requests are not walship's
		d, err := drain(ctx, client, fmt.Sprintf("%s-drain-%d", client, round), hc, bucket, srv, dir, walDir, last, codec)
		if err != nil {
			return r, fmt.Errorf("drain: %w", err)
		}
		r.rawPutSecs, r.drainSecs = bestSecs(r.rawPutSecs, put), bestSecs(r.drainSecs, d)
		rounds = append(rounds, fmt.Sprintf("%.2fs/%.2fs", d, put))
	}
	if r.rawGetSec, err = rawGets(ctx, tg.proxied, rawPrefix, len(files)); err != nil {
		return r, err
	}
	if r.rawGetDirect, err = rawGets(ctx, tg.direct, directPrefix, len(files)); err != nil {
		return r, err
	}
	hc.take()

	fmt.Printf("  %-14s ship %.2fs, restore %.2fs; raw put %.2fs, raw get %.2fs; %d segments, %s stored (%.3f of source)\n",
		clientNames[client], r.shipSecs, r.restoreSecs, r.rawPutSecs, r.rawGetSec, r.segments, human(r.storedBytes),
		float64(r.storedBytes)/float64(walBytes))
	fmt.Printf("  %-14s drain of the same log sealed in the spool first: %.2fs (best of %d; drain/raw put by round: %s)\n", "", r.drainSecs, drainRounds, strings.Join(rounds, ", "))
	fmt.Printf("  %-14s ship: %.2fs CPU (bench process) in %.2fs, inside store calls: %s\n", "", r.shipCPU, r.shipSecs, r.shipTimes)
	fmt.Printf("  %-14s restore: %.2fs CPU in %.2fs, inside store calls (%d in parallel): %s\n", "", r.restoreCPU, r.restoreSecs,
		restoreParallel, r.restoreTimes)
	fmt.Printf("  %-14s restore %s\n", "", r.estimate)
	return r, nil
}

// drainRounds is how many times the drain and the raw PUTs it is compared
// with are measured, alternately.
const drainRounds = 3

// bestSecs is the shorter of two times, a zero one not counting.
func bestSecs(a, b float64) float64 {
	if a == 0 {
		return b
	}
	return min(a, b)
}

// rawPuts puts files under prefix, uploadsInFlight at a time (as the
// agent ships), and returns the seconds it took.
func rawPuts(ctx context.Context, rc rawClient, prefix string, files []string) (float64, error) {
	start := time.Now()
	var g errgroup.Group
	g.SetLimit(uploadsInFlight)
	for i, f := range files {
		key := fmt.Sprintf("%s%06d", prefix, i)
		g.Go(func() error { return rc.put(ctx, key, f) })
	}
	if err := g.Wait(); err != nil {
		return 0, fmt.Errorf("raw put: %w", err)
	}
	return time.Since(start).Seconds(), nil
}

// rawGets reads back what rawPuts put, restoreParallel at a time (as pitr
// restores), and returns the seconds it took.
func rawGets(ctx context.Context, rc rawClient, prefix string, n int) (float64, error) {
	start := time.Now()
	var g errgroup.Group
	g.SetLimit(restoreParallel)
	for i := range n {
		key := fmt.Sprintf("%s%06d", prefix, i)
		g.Go(func() error { return rc.get(ctx, key) })
	}
	if err := g.Wait(); err != nil {
		return 0, fmt.Errorf("raw get: %w", err)
	}
	return time.Since(start).Seconds(), nil
}

// rawS3Client is a plain aws-sdk-go-v2 client for MinIO: path style, and
// checksums only where required (see DESIGN.md).
func rawS3Client(ctx context.Context, srv minioServer, hostport string) (*awss3.Client, error) {
	cfg, err := awsconfig.LoadDefaultConfig(ctx, awsconfig.WithRegion("us-east-1"),
		awsconfig.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(srv.access, srv.secret, "")),
		awsconfig.WithRequestChecksumCalculation(aws.RequestChecksumCalculationWhenRequired),
		awsconfig.WithResponseChecksumValidation(aws.ResponseChecksumValidationWhenRequired))
	if err != nil {
		return nil, err
	}
	return awss3.NewFromConfig(cfg, func(o *awss3.Options) {
		o.BaseEndpoint = aws.String("http://" + hostport)
		o.UsePathStyle = true
	}), nil
}

// sameLog checks that two tidwall/wal directories hold the same log: the
// concatenation of their segment files, in name order, is byte-identical
// (a binary log file is just its entries one after another, so this holds
// however the log is split into files).
func sameLog(a, b string) error {
	ra, closeA, err := concat(a)
	if err != nil {
		return err
	}
	defer closeA()
	rb, closeB, err := concat(b)
	if err != nil {
		return err
	}
	defer closeB()
	ba, bb := make([]byte, 1<<20), make([]byte, 1<<20)
	var off int64
	for {
		na, ea := io.ReadFull(ra, ba)
		nb, eb := io.ReadFull(rb, bb)
		if na != nb || !bytes.Equal(ba[:na], bb[:nb]) {
			return fmt.Errorf("restored log %s differs from the source %s near byte %d", b, a, off)
		}
		off += int64(na)
		if ea != nil || eb != nil {
			if errors.Is(ea, io.ErrUnexpectedEOF) || errors.Is(ea, io.EOF) {
				return nil
			}
			return errors.Join(ea, eb)
		}
	}
}

func concat(dir string) (io.Reader, func(), error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, err
	}
	var names []string
	for _, e := range ents {
		if e.Type().IsRegular() && !strings.HasPrefix(e.Name(), ".") {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	var files []*os.File
	var rs []io.Reader
	closeAll := func() {
		for _, f := range files {
			f.Close()
		}
	}
	for _, n := range names {
		f, err := os.Open(filepath.Join(dir, n))
		if err != nil {
			closeAll()
			return nil, nil, err
		}
		files = append(files, f)
		rs = append(rs, bufio.NewReaderSize(f, 1<<20))
	}
	return io.MultiReader(rs...), closeAll, nil
}

func printMinIO(rs []clientResult, walBytes int64) {
	if len(rs) == 0 {
		return
	}
	gb := float64(walBytes) / 1e9
	fmt.Printf("\n%-44s %12s %12s %8s\n", "measure (MB/s of source WAL)", "walship", "raw", "ratio")
	row := func(name string, w, raw float64) {
		fmt.Printf("%-44s %7.1f MB/s %7.1f MB/s %7.2fx\n", name, w, raw, w/raw)
	}
	for _, r := range rs {
		row(fmt.Sprintf("ship %s WAL -> %s", human(walBytes), clientNames[r.client]),
			float64(walBytes)/1e6/r.shipSecs, float64(walBytes)/1e6/r.rawPutSecs)
		row(fmt.Sprintf("drain %s backlog -> %s", human(walBytes), clientNames[r.client]),
			float64(walBytes)/1e6/r.drainSecs, float64(walBytes)/1e6/r.rawPutSecs)
		row(fmt.Sprintf("restore %s WAL <- %s", human(walBytes), clientNames[r.client]),
			float64(walBytes)/1e6/r.restoreSecs, float64(walBytes)/1e6/r.rawGetSec)
	}
	fmt.Printf("ship = the agent from the source log to every segment shipped; drain = the same log sealed\n" +
		"into the spool while the store held every upload, from the release to the last segment shipped;\n")
	fmt.Printf("raw = plain PUTs (%d streams, as the agent ships) / GETs (%d streams, as pitr restores) of the\n"+
		"same stored segment objects, through the bench's HTTP counter as walship's requests go;\n"+
		"on the wire that is (direct = the same calls straight to the server, without the counter):\n", uploadsInFlight, restoreParallel)
	for _, r := range rs {
		mb := func(secs float64) float64 { return float64(r.storedBytes) / 1e6 / secs }
		fmt.Printf("  %-14s %d objects, %s: raw put %.1f MB/s (direct %.1f), raw get %.1f MB/s (direct %.1f); walship put %.1f MB/s of stored bytes\n",
			clientNames[r.client], r.segments, human(r.storedBytes), mb(r.rawPutSecs), mb(r.rawPutDirect),
			mb(r.rawGetSec), mb(r.rawGetDirect), mb(r.shipSecs))
	}

	fmt.Printf("\nstore calls (backends/metered; one Put may be several HTTP requests) per GB of source WAL\n")
	fmt.Printf("%-30s %8s %8s %8s %8s %8s %8s %8s %10s %10s\n", "", "put", "get", "stat", "list", "delete", "total", "errors", "MB up", "MB down")
	counts := func(name string, c metered.Counts, per float64) {
		f := func(n int64) string { return fmt.Sprintf("%.1f", float64(n)/per) }
		fmt.Printf("%-30s %8s %8s %8s %8s %8s %8s %8s %10.1f %10.1f\n", name, f(c.Put.Calls), f(c.Get.Calls), f(c.Stat.Calls),
			f(c.List.Calls), f(c.Delete.Calls), f(c.Calls()), f(c.Errors()), float64(c.BytesUp)/1e6/per, float64(c.BytesDown)/1e6/per)
	}
	for _, r := range rs {
		counts("ship, "+clientNames[r.client], r.ship, gb)
		counts("restore, "+clientNames[r.client], r.restore, gb)
		fmt.Printf("%-30s %8.1f %8.1f\n", "raw baseline", float64(r.segments)/gb, float64(r.segments)/gb)
	}
	fmt.Printf("\nstore calls per restore of the whole %s WAL (absolute)\n", human(walBytes))
	for _, r := range rs {
		fmt.Printf("  %-14s %s\n", clientNames[r.client], r.restore)
	}
	fmt.Printf("store calls for shipping it (absolute)\n")
	for _, r := range rs {
		fmt.Printf("  %-14s %s\n", clientNames[r.client], r.ship)
	}
	fmt.Printf("\nHTTP requests per segment object, as the server saw them (raw baseline: 1 PUT, 1 GET)\n")
	for _, r := range rs {
		fmt.Printf("  ship, %-14s %s\n", clientNames[r.client], perObject(r.shipHTTP, r.segments))
		fmt.Printf("  restore, %-11s %s\n", clientNames[r.client], perObject(r.restoreHTTP, r.segments))
	}
}
