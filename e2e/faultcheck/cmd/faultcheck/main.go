// Command faultcheck runs the seeded fault-injection checker of walship
// (package e2e/faultcheck) against the servers scripts/testenv.sh starts:
//
//	scripts/testenv.sh go run ./e2e/faultcheck/cmd/faultcheck -seed 1 -runs 20
//
// It prints each failed run's seed and full step list, then a summary, and
// exits 1 if any run failed, 2 on bad flags or missing servers.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/walship/walship/e2e/faultcheck"
)

func main() {
	seed := flag.Int64("seed", time.Now().UnixNano()%1_000_000, "seed of the plans (the same seed gives the same steps)")
	runs := flag.Int("runs", 10, "number of runs (0: until -for has passed)")
	soak := flag.Duration("for", time.Hour, "with -runs 0: keep starting runs for this long")
	only := flag.Int("only", -1, "run only this run `number` of the seed (to reproduce a failure)")
	duration := flag.Duration("duration", 12*time.Second, "planned length of each run's steps")
	steps := flag.Int("steps", 200, "at most this many steps per run")
	workdir := flag.String("workdir", "", "where runs live (default a temp dir); failed runs' dirs are kept there")
	walship := flag.String("walship", "", "walship binary to test (default: built from this module)")
	verbose := flag.Bool("v", false, "log every step")
	plan := flag.Bool("plan", false, "print the plans and exit")
	minimize := flag.Bool("minimize", false, "with -only: cut the run's steps down while it still fails (see -keep), print the result")
	keep := flag.String("keep", "wrong", "what -minimize keeps failing: wrong (a wrong answer), verify (verify found damage), stale (healthy store stale), any")
	flag.Parse()
	if *plan {
		for r := range max(*runs, *only+1) {
			if *only < 0 || r == *only {
				fmt.Print(faultcheck.MakePlan(*seed, r, *duration, *steps))
			}
		}
		return
	}
	env, missing := faultcheck.EnvFromOS()
	if len(missing) > 0 {
		fmt.Fprintf(os.Stderr, "faultcheck: %s unset: run it under scripts/testenv.sh\n", strings.Join(missing, ", "))
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *minimize {
		if *only < 0 {
			fmt.Fprintln(os.Stderr, "faultcheck: -minimize needs -only RUN")
			os.Exit(2)
		}
		c, err := faultcheck.New(ctx, faultcheck.Options{Workdir: *workdir, Out: os.Stdout, Walship: *walship, Verbose: *verbose}, env)
		if err != nil {
			fmt.Fprintf(os.Stderr, "faultcheck: %v\n", err)
			os.Exit(1)
		}
		defer c.Close()
		keeps := map[string]func(*faultcheck.RunResult) bool{"wrong": faultcheck.WrongAnswer, "verify": faultcheck.VerifyDamage,
			"stale": faultcheck.Stale, "any": (*faultcheck.RunResult).Failed}
		k, ok := keeps[*keep]
		if !ok {
			fmt.Fprintf(os.Stderr, "faultcheck: -keep %q: want wrong, verify, stale or any\n", *keep)
			os.Exit(2)
		}
		p := c.Minimize(ctx, faultcheck.MakePlan(*seed, *only, *duration, *steps), k)
		fmt.Print(p)
		fmt.Println(p.GoLiteral())
		return
	}
	if *runs == 0 {
		fmt.Printf("faultcheck: seed %d, runs of %v for %v\n", *seed, *duration, *soak)
	} else {
		fmt.Printf("faultcheck: seed %d, %d runs of %v\n", *seed, *runs, *duration)
	}
	sum, err := faultcheck.Check(ctx, faultcheck.Options{Seed: *seed, Runs: *runs, Only: *only, Duration: *duration, For: *soak, Steps: *steps,
		Workdir: *workdir, Verbose: *verbose, Out: os.Stdout, Walship: *walship, CI: os.Getenv("CI") == "true"}, env)
	if sum != nil {
		sum.Print(os.Stdout)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "faultcheck: %v\n", err)
		os.Exit(1)
	}
	if sum.FailedRuns > 0 {
		os.Exit(1)
	}
}
