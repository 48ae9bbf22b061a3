// Command bench measures walship against raw baselines in one run and
// prints the ratios.
//
// -store file (the default):
//
//   - ship: source WAL bytes per second from a backlog to durable in a file
//     store, against a plain copy of the same WAL files with fsync;
//   - restore: restored WAL bytes per second from that store, against a
//     plain copy with fsync of the same bytes;
//   - memory: the agent's peak Go heap while shipping, at two log sizes
//     (it must not grow with the log).
//
// -store minio (needs the WALSHIP_TEST_MINIO_* and WALSHIP_TEST_GCS_*
// environment of scripts/testenv.sh; scripts/bench.sh runs it), for each
// client in -clients (minio-go and aws-sdk-go-v2 against MinIO, the GCS
// emulator through cloud.google.com/go/storage), with -compression zstd or
// none:
//
//   - ship: source WAL bytes per second from a backlog to durable and
//     verified in the bucket (agent.New/Run, store wrapped in
//     backends/metered), against plain PUTs of the same stored segment
//     bytes with the client's own SDK at the agent's 4 uploads in flight;
//   - restore: restored WAL bytes per second (plan, Plan.Measure and
//     pitr.Execute through the metered store, its default parallelism),
//     against plain GETs of the same objects at the same parallelism, and
//     the plan's measured estimate against the time taken;
//   - requests: store calls by operation per GB of source WAL shipped, and
//     per restore; HTTP requests per segment as the server saw them.
//
// -store multi (needs MinIO and Azurite from scripts/testenv.sh, with
// WALSHIP_TEST_MINIO_PID and WALSHIP_TEST_MINIO_CMD): one agent shipping to a
// file store, MinIO and Azurite at once (see multi.go):
//
//   - shipping lag p50/p99/max per store while a writer goroutine appends
//     JSON-like entries at a steady -rate (20 MB/s) for -lag-secs;
//   - the same with MinIO killed (SIGKILL) for the run, side by side, with
//     the ratio of the other stores' lag to the first run's;
//   - upload rate-limit accuracy on the MinIO store (restarted) through
//     throttle.NewStore: configured vs measured bytes/s for each of -limits,
//     over -limit-secs each.
//
// -store history (see history.go): a file store holding -segments
// one-second segments (100,000 by default); restore plans, a restore,
// verify and a prune plan before and after one compaction pass: time,
// store requests, objects listed, peak heap.
//
// -store crypt (see crypt.go): encryption on vs off on the same entries and
// codec (-compression): segments sealed in memory by the v1 writer, the v2
// writer plain and the v2 writer encrypted to one age X25519 recipient (MB/s
// of source), and restores through pitr from a file store of each (MB/s of
// restored WAL, store calls per restore), best of 3 rounds each, with the
// ratios to v1 and of encrypted to plain v2 (the target: at least 0.90x).
//
// -store all runs all five.
//
// Usage: go run ./bench [-size 256MiB] [-dir DIR] [-store file|minio|multi|history|crypt|all] [-clients minio,s3,gcs] [-compression zstd|none] [-segments N]
//
//	[-rate 20MB] [-lag-secs 25s] [-limits 2MiB,8MiB,32MiB] [-limit-secs 30s]
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"runtime/trace"
	"strings"
	"time"

	"github.com/walship/walship/config"
	"github.com/walship/walship/segments"
)

func main() {
	sizeFlag := flag.String("size", "256MiB", "source WAL size")
	dirFlag := flag.String("dir", "", "work dir (default: a temp dir, removed)")
	storeFlag := flag.String("store", "file", "what to measure: file, minio, multi, history, crypt or all")
	segsFlag := flag.Int("segments", 100000, "with -store history: segments in the history")
	clientsFlag := flag.String("clients", "minio,s3,gcs", "with -store minio: the clients to measure (minio = minio-go and s3 = aws-sdk-go-v2 against MinIO, gcs = the GCS emulator)")
	compressionFlag := flag.String("compression", "zstd", "with -store minio and crypt: the segment compression (zstd or none)")
	rateFlag := flag.String("rate", "20MB", "with -store multi: the source write rate per second of the lag runs")
	lagSecs := flag.Duration("lag-secs", 25*time.Second, "with -store multi: how long each lag run writes")
	limitsFlag := flag.String("limits", "2MiB,8MiB,32MiB", "with -store multi: upload limits (per second) to measure")
	limitSecs := flag.Duration("limit-secs", 30*time.Second, "with -store multi: measurement window per limit")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the whole run to this `file`")
	traceFile := flag.String("trace", "", "write an execution trace of the whole run to this `file` (go tool trace): where the pipeline waits")
	shipDir := flag.String("ship", "", "internal: run only the agent on this WAL dir and print the seconds it took")
	shipTo := flag.String("ship-to", "", "internal: the file store dir for -ship")
	shipRecipient := flag.String("ship-recipient", "", "internal: with -ship, encrypt the store's segments to this age recipient (a public key)")
	flag.Parse()
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			fail(err)
		}
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	if *traceFile != "" {
		f, err := os.Create(*traceFile)
		if err != nil {
			fail(err)
		}
		if err := trace.Start(f); err != nil {
			fail(err)
		}
		defer trace.Stop()
	}
	size, err := config.ParseSize(*sizeFlag)
	if err != nil {
		fail(err)
	}
	if *shipDir != "" {
		secs, err := ship(*shipDir, *shipTo, *shipRecipient)
		if err != nil {
			fail(err)
		}
		fmt.Println(secs, vmHWM())
		pprof.StopCPUProfile()
		trace.Stop()
		return
	}
	var runFile, runMinIO, runMulti, runHistory, runCrypt bool
	switch *storeFlag {
	case "crypt":
		runCrypt = true
	case "history":
		runHistory = true
	case "file":
		runFile = true
	case "minio":
		runMinIO = true
	case "multi":
		runMulti = true
	case "all":
		runFile, runMinIO, runMulti, runHistory, runCrypt = true, true, true, true, true
	default:
		fail(fmt.Errorf("-store %q: want file, minio, multi, history, crypt or all", *storeFlag))
	}
	mo := multiOptions{lagSecs: *lagSecs, warm: 4 * time.Second, limitSecs: *limitSecs}
	if runMulti {
		if mo.rate, err = config.ParseSize(*rateFlag); err != nil || mo.rate <= 0 {
			fail(fmt.Errorf("-rate %q: want a size per second, e.g. 20MB", *rateFlag))
		}
		for _, l := range strings.Split(*limitsFlag, ",") {
			n, err := config.ParseSize(strings.TrimSpace(l))
			if err != nil || n <= 0 {
				fail(fmt.Errorf("-limits: %q is not a positive size", l))
			}
			mo.limits = append(mo.limits, n)
		}
		if mo.lagSecs <= mo.warm+time.Second || mo.limitSecs < time.Second {
			fail(fmt.Errorf("-lag-secs must exceed %v and -limit-secs be at least 1s", mo.warm+time.Second))
		}
	}
	var clients []string
	for _, c := range strings.Split(*clientsFlag, ",") {
		switch c = strings.TrimSpace(c); c {
		case "minio", "s3", "gcs":
			clients = append(clients, c)
		case "":
		default:
			fail(fmt.Errorf("-clients: unknown client %q (want minio, s3, gcs)", c))
		}
	}
	codec, err := segments.ParseCodec(*compressionFlag)
	if err != nil {
		fail(fmt.Errorf("-compression: %w", err))
	}
	if runMinIO { // before minutes of work
		for _, c := range clients {
			if _, _, err := server(c, minioServer{endpoint: os.Getenv(minioVars[0])}, ""); err != nil {
				fail(err)
			}
			if c != "gcs" {
				if err := minioConfigured(); err != nil {
					fail(err)
				}
			}
		}
	}
	if runMulti {
		if err := multiConfigured(); err != nil {
			fail(err)
		}
	}
	dir := *dirFlag
	if dir == "" {
		if dir, err = os.MkdirTemp("", "walship-bench-*"); err != nil {
			fail(err)
		}
		defer os.RemoveAll(dir)
	}
	fmt.Printf("walship bench: %d-core %s/%s, %s, work dir %s\n", runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, runtime.Version(), dir)
	if runFile {
		if err := benchFile(filepath.Join(dir, "file"), size); err != nil {
			fail(err)
		}
	}
	if runCrypt {
		if err := benchCrypt(filepath.Join(dir, "crypt"), size, codec); err != nil {
			fail(err)
		}
	}
	if runHistory {
		if *segsFlag < 1 {
			fail(fmt.Errorf("-segments %d: want at least 1", *segsFlag))
		}
		if err := benchHistory(filepath.Join(dir, "history"), *segsFlag); err != nil {
			fail(err)
		}
	}
	if runMinIO {
		if err := benchMinIO(filepath.Join(dir, "minio"), size, clients, codec); err != nil {
			fail(err)
		}
	}
	if runMulti { // last: it kills and restarts MinIO
		if err := benchMulti(filepath.Join(dir, "multi"), mo); err != nil {
			fail(err)
		}
	}
}
