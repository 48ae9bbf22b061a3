package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
)

// checkRow is one property 'walship check' looked at.
type checkRow struct {
	Target string `json:"target"` // config, source, state, or a store's name
	Check  string `json:"check"`  // the property: parses, writable, reachable, ...
	Status string `json:"status"` // statusOK, statusFail or statusSkip
	Detail string `json:"detail"` // what was found, or what to do
}

// Row statuses. A skipped row was not looked at because one it depends on
// failed, so it never passes alone.
const (
	statusOK   = "ok"
	statusFail = "fail"
	statusSkip = "skip"
)

// checkReport collects rows.
type checkReport struct{ rows []checkRow }

func (r *checkReport) add(rows ...checkRow) { r.rows = append(r.rows, rows...) }

func (r *checkReport) ok(target, check, detail string) {
	r.add(checkRow{target, check, statusOK, detail})
}

func (r *checkReport) fail(target, check, detail string) {
	r.add(checkRow{target, check, statusFail, detail})
}

func (r *checkReport) skip(target, check, detail string) {
	r.add(checkRow{target, check, statusSkip, detail})
}

// result records err as a failed row, or detail as a passed one.
func (r *checkReport) result(target, check string, err error, detail string) bool {
	if err != nil {
		r.fail(target, check, err.Error())
		return false
	}
	r.ok(target, check, detail)
	return true
}

// failed counts the rows that did not pass.
func (r *checkReport) failed() int {
	n := 0
	for _, row := range r.rows {
		if row.Status != statusOK {
			n++
		}
	}
	return n
}

// summary says how many rows did not pass, and why.
func (r *checkReport) summary() string {
	var fail, skip int
	for _, row := range r.rows {
		switch row.Status {
		case statusFail:
			fail++
		case statusSkip:
			skip++
		}
	}
	if fail+skip == 0 {
		return fmt.Sprintf("all %d checks passed", len(r.rows))
	}
	return fmt.Sprintf("%d of %d checks failed, %d not tried", fail, len(r.rows), skip)
}

// finish prints the rows and turns any row that did not pass into exit
// status 1.
func (r *checkReport) finish(w io.Writer, asJSON bool) error {
	var err error
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		err = enc.Encode(struct {
			OK     bool       `json:"ok"`
			Checks []checkRow `json:"checks"`
		}{r.failed() == 0, r.rows})
	} else {
		err = r.table(w, colorful(w))
	}
	if err != nil {
		return fmt.Errorf("print check results: %w", err)
	}
	if n := r.failed(); n > 0 {
		return exitCode{1, errors.New(r.summary())}
	}
	return nil
}

// table prints one aligned row per check; a detail of several lines goes
// on as many table lines.
func (r *checkReport) table(w io.Writer, color bool) error {
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "STATUS\tTARGET\tCHECK\tDETAIL")
	for _, row := range r.rows {
		lines := strings.Split(row.Detail, "\n")
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", paint(row.Status, color), row.Target, row.Check, lines[0])
		for _, l := range lines[1:] {
			fmt.Fprintf(tw, "%s\t\t\t%s\n", paint("", color), l)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "\n%s\n", r.summary())
	return err
}

// paint colours a status for a terminal. Every cell gets escapes of the
// same length, so the table's columns stay aligned.
func paint(status string, color bool) string {
	if !color {
		return status
	}
	code := map[string]string{statusOK: "32", statusFail: "31", statusSkip: "33"}[status]
	if code == "" {
		code = "39"
	}
	return "\x1b[" + code + "m" + status + "\x1b[0m"
}

// colorful reports whether w is a terminal that takes colours.
func colorful(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok || os.Getenv("NO_COLOR") != "" || os.Getenv("TERM") == "dumb" {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
