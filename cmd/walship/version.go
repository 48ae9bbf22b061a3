package main

import (
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"strings"
)

// versionInfo is what 'walship version' prints: the build, and the object
// formats this build reads and writes.
type versionInfo struct {
	Version  string          `json:"version"`           // the module version, "(devel)" for a local build
	Commit   string          `json:"commit,omitempty"`  // vcs.revision
	Time     string          `json:"time,omitempty"`    // vcs.time
	Modified bool            `json:"modified"`          // built from a tree with uncommitted changes
	Go       string          `json:"go"`                // the Go toolchain
	Platform string          `json:"platform"`          // GOOS/GOARCH
	Formats  []formatSupport `json:"formats"`           // object formats, from the code that reads and writes them
	Problem  string          `json:"problem,omitempty"` // a format that could not be looked at
}

func cmdVersion(args []string, stdout io.Writer) error {
	fs := newFlagSet("version", "version [--json]")
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageError("version takes no arguments")
	}
	v := buildVersion()
	formats, err := objectFormats()
	v.Formats = formats
	if err != nil {
		v.Problem = err.Error()
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	return v.print(stdout)
}

// buildVersion reads the build information the Go toolchain stamps in.
func buildVersion() versionInfo {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		bi = nil
	}
	return versionOf(bi)
}

// versionOf reads build information (nil: none).
func versionOf(bi *debug.BuildInfo) versionInfo {
	v := versionInfo{Version: "(devel)", Go: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if bi == nil {
		return v
	}
	if bi.Main.Version != "" {
		v.Version = bi.Main.Version
	}
	if bi.GoVersion != "" {
		v.Go = bi.GoVersion
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			v.Commit = s.Value
		case "vcs.time":
			v.Time = s.Value
		case "vcs.modified":
			v.Modified = s.Value == "true"
		}
	}
	return v
}

func (v versionInfo) print(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "walship %s\n", v.Version)
	if v.Commit != "" {
		dirty := ""
		if v.Modified {
			dirty = " (modified)"
		}
		fmt.Fprintf(&b, "commit   %s%s %s\n", v.Commit, dirty, v.Time)
	}
	fmt.Fprintf(&b, "go       %s %s\n", v.Go, v.Platform)
	b.WriteString("formats  (object: writes version; reads versions)\n")
	for _, f := range v.Formats {
		fmt.Fprintf(&b, "  %-15s writes %d; reads %s\n", f.Object, f.Writes, joinInts(f.Reads))
	}
	if v.Problem != "" {
		fmt.Fprintf(&b, "problem: %s\n", v.Problem)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func joinInts(vs []int) string {
	s := make([]string, len(vs))
	for i, v := range vs {
		s[i] = fmt.Sprint(v)
	}
	return strings.Join(s, ", ")
}
