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
// -store minio (needs the WALSHIP_TEST_MINIO_* environment of
// scripts/testenv.sh; scripts/bench.sh runs it), for each client in
// -clients (minio-go and aws-sdk-go-v2 s3):
//
//   - ship: source WAL bytes per second from a backlog to durable and
//     verified in a MinIO bucket (agent.New/Run, store wrapped in
//     backends/metered), against plain PutObject calls of the same stored
//     segment bytes, one at a time (the agent uploads one segment at a time
//     per store);
//   - restore: restored WAL bytes per second (pitr.Restore through the
//     metered store, its default parallelism), against plain GetObject calls
//     of the same objects at the same parallelism;
//   - requests: store calls by operation per GB of source WAL shipped, and
//     per restore.
//
// -store all runs both.
//
// Usage: go run ./bench [-size 256MiB] [-dir DIR] [-store file|minio|all] [-clients minio,s3]
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strings"

	"github.com/walship/walship/config"
)

func main() {
	sizeFlag := flag.String("size", "256MiB", "source WAL size")
	dirFlag := flag.String("dir", "", "work dir (default: a temp dir, removed)")
	storeFlag := flag.String("store", "file", "what to measure: file, minio or all")
	clientsFlag := flag.String("clients", "minio,s3", "with -store minio: the clients to measure (minio = minio-go, s3 = aws-sdk-go-v2)")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the whole run to this `file`")
	shipDir := flag.String("ship", "", "internal: run only the agent on this WAL dir and print the seconds it took")
	shipTo := flag.String("ship-to", "", "internal: the file store dir for -ship")
	flag.Parse()
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			fail(err)
		}
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	size, err := config.ParseSize(*sizeFlag)
	if err != nil {
		fail(err)
	}
	if *shipDir != "" {
		secs, err := ship(*shipDir, *shipTo)
		if err != nil {
			fail(err)
		}
		fmt.Println(secs, vmHWM())
		pprof.StopCPUProfile()
		return
	}
	var runFile, runMinIO bool
	switch *storeFlag {
	case "file":
		runFile = true
	case "minio":
		runMinIO = true
	case "all":
		runFile, runMinIO = true, true
	default:
		fail(fmt.Errorf("-store %q: want file, minio or all", *storeFlag))
	}
	var clients []string
	for _, c := range strings.Split(*clientsFlag, ",") {
		switch c = strings.TrimSpace(c); c {
		case "minio", "s3":
			clients = append(clients, c)
		case "":
		default:
			fail(fmt.Errorf("-clients: unknown client %q (want minio, s3)", c))
		}
	}
	if runMinIO {
		if err := minioConfigured(); err != nil { // before minutes of work
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
	if runMinIO {
		if err := benchMinIO(filepath.Join(dir, "minio"), size, clients); err != nil {
			fail(err)
		}
	}
}
