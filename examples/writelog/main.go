// Command writelog appends entries to a tidwall/wal log, the way a database
// writes its write-ahead log: a stand-in for the README's five-minute start,
// where no database is at hand. Run it again on the same directory and it
// appends after the last entry.
//
//	go run ./examples/writelog -dir /tmp/db/wal -n 1000 [-rate 500] [-format json]
//
// Entry i is a small JSON record, {"seq":i,"key":"user:K","value":"..."}.
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/tidwall/wal"
)

func main() {
	dir := flag.String("dir", "", "the log `directory` (created if missing)")
	n := flag.Int("n", 1000, "entries to append")
	rate := flag.Int("rate", 0, "entries per second (0: as fast as the disk allows)")
	format := flag.String("format", "binary", "log format of a new log: binary or json")
	flag.Parse()
	if *dir == "" || flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "usage: writelog -dir DIR [-n N] [-rate R] [-format binary|json]")
		os.Exit(2)
	}
	if err := write(*dir, *n, *rate, *format); err != nil {
		fmt.Fprintln(os.Stderr, "writelog:", err)
		os.Exit(1)
	}
}

func write(dir string, n, rate int, format string) error {
	opts := *wal.DefaultOptions
	switch format {
	case "binary":
	case "json":
		opts.LogFormat = wal.JSON
	default:
		return fmt.Errorf("-format %q: want binary or json", format)
	}
	l, err := wal.Open(dir, &opts)
	if err != nil {
		return err
	}
	last, err := l.LastIndex()
	if err != nil {
		l.Close()
		return err
	}
	var tick <-chan time.Time
	if rate > 0 {
		t := time.NewTicker(time.Second / time.Duration(rate))
		defer t.Stop()
		tick = t.C
	}
	for i := last + 1; i <= last+uint64(n); i++ {
		if tick != nil {
			<-tick
		}
		rec := fmt.Sprintf(`{"seq":%d,"key":"user:%d","value":%q}`, i, i%97, strings.Repeat("x", int(i%50)))
		if err := l.Write(i, []byte(rec)); err != nil {
			l.Close()
			return fmt.Errorf("write entry %d: %w", i, err)
		}
	}
	return l.Close()
}
