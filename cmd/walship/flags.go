package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

var errHelp = errors.New("help shown")

// parseArgs parses flags that may come before, between or after the
// positional arguments, sets up logging as --log-format and --log-level
// say, and returns the positionals.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	fs.SetOutput(io.Discard)
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fs.SetOutput(os.Stderr)
				fs.Usage()
				return nil, exitCode{0, errHelp}
			}
			return nil, usageError("%v (see 'walship %s --help')", err, fs.Name())
		}
		rest := fs.Args()
		if len(rest) == 0 || rest[0] == "--" {
			if len(rest) > 0 {
				pos = append(pos, rest[1:]...)
			}
			return pos, setupLogging(fs)
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

func newFlagSet(name, synopsis string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	addLogFlags(fs)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: walship %s\n\nflags:\n", synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// oneOf checks that at most one of the named flags was set.
func oneOf(fs *flag.FlagSet, names ...string) error {
	var set []string
	fs.Visit(func(f *flag.Flag) {
		for _, n := range names {
			if f.Name == n {
				set = append(set, "--"+n)
			}
		}
	})
	if len(set) > 1 {
		return usageError("%s cannot be combined", strings.Join(set, " and "))
	}
	return nil
}

// flagSet reports whether the named flag was given.
func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}
