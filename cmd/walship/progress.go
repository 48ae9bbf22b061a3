package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync/atomic"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/walship/walship/pitr"
	"github.com/walship/walship/retention"
)

// How often progress is shown: a bar is redrawn a few times a second, a
// log line (stderr is not a terminal) is written every lineEvery (a
// variable for tests).
const barEvery = 200 * time.Millisecond

var lineEvery = 5 * time.Second

// addQuietFlag registers --quiet on a command that shows progress.
func addQuietFlag(fs *flag.FlagSet) *bool {
	return fs.Bool("quiet", false, "show no progress on stderr")
}

// meter is the pitr and retention Progress of a long command. Total and Add
// are on the data path: they only store and add atomics. A goroutine of its
// own shows the counts: a bar when stderr is a terminal, else a log line
// every lineEvery (and a last one at the end, if it wrote any).
type meter struct {
	op    string // what is counted: "restore", "verify"
	unit  string // the objects: "segments"
	attrs []any  // fields of its JSON records, e.g. the store

	objs, bytes           atomic.Int64
	totalObjs, totalBytes atomic.Int64 // -1: not known (yet)

	clock func() time.Time
	start time.Time
	log   *slog.Logger
	term  bool                     // draw a bar (else log lines)
	bar   *progressbar.ProgressBar // the bar, once drawn
	lines int                      // log lines written
	// bar and lines are the showing goroutine's, then finish's.

	stop chan struct{}
	done chan struct{} // nil: nothing shown (--quiet)
	// shown, when set (by tests), is called after each tick's showing.
	shown func()
}

var (
	_ pitr.Progress      = (*meter)(nil)
	_ retention.Progress = (*meter)(nil)
)

// newMeter makes a meter that shows nothing until run.
func newMeter(op, unit string, clock func() time.Time, attrs ...any) *meter {
	m := &meter{op: op, unit: unit, attrs: attrs, clock: clock, start: clock(), log: slog.Default()}
	m.totalObjs.Store(-1)
	m.totalBytes.Store(-1)
	return m
}

// startMeter makes a meter and, unless quiet, starts showing it: as a bar
// on a terminal, else as log lines. The caller calls finish.
func startMeter(op, unit string, quiet bool, attrs ...any) *meter {
	m := newMeter(op, unit, time.Now, attrs...)
	if quiet {
		return m
	}
	every := lineEvery
	if m.term = isTerminal(logOutput); m.term {
		every = barEvery
	}
	t := time.NewTicker(every)
	m.run(t.C, t.Stop)
	return m
}

// run shows the meter on every tick until finish.
func (m *meter) run(ticks <-chan time.Time, stopTicks func()) {
	m.stop, m.done = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(m.done)
		defer stopTicks()
		for {
			select {
			case <-ticks:
				m.show(false)
				if m.shown != nil {
					m.shown()
				}
			case <-m.stop:
				return
			}
		}
	}()
}

// finish stops showing the meter and shows where it ended: the bar as it
// stands, or a last log line if it wrote any before.
func (m *meter) finish() {
	if m.done == nil {
		return
	}
	close(m.stop)
	<-m.done
	m.done = nil
	m.show(true)
}

func (m *meter) Total(objects, bytes int64) {
	m.totalObjs.Store(objects)
	m.totalBytes.Store(bytes)
}

func (m *meter) Add(objects, bytes int64) {
	m.objs.Add(objects)
	m.bytes.Add(bytes)
}

// counts is what a meter shows at one moment.
type counts struct {
	objs, totalObjs, bytes, totalBytes int64
	elapsed                            time.Duration
}

func (m *meter) counts() counts {
	return counts{objs: m.objs.Load(), totalObjs: m.totalObjs.Load(), bytes: m.bytes.Load(),
		totalBytes: m.totalBytes.Load(), elapsed: m.clock().Sub(m.start)}
}

// byBytes says whether the rate and ETA go by bytes (else by objects).
func (c counts) byBytes() bool { return c.totalBytes > 0 || (c.totalBytes < 0 && c.bytes > 0) }

// rate is bytes (byBytes) or objects per second so far; 0 before a moment
// has passed.
func (c counts) rate() float64 {
	if c.elapsed <= 0 {
		return 0
	}
	n := c.objs
	if c.byBytes() {
		n = c.bytes
	}
	return float64(n) / c.elapsed.Seconds()
}

// eta is the time left at the rate so far; ok is false when no total is
// known, nothing has moved yet, or all is done.
func (c counts) eta() (time.Duration, bool) {
	left := c.totalObjs - c.objs
	if c.byBytes() {
		left = c.totalBytes - c.bytes
	}
	r := c.rate()
	if c.totalObjs < 0 || left <= 0 || r <= 0 {
		return 0, false
	}
	return time.Duration(float64(left) / r * float64(time.Second)).Round(time.Second), true
}

// line is the meter as a sentence: "restore: 812/4096 segments, 1.2
// GiB/5.0 GiB, 180 MiB/s, eta 22s". At the end (final) the time taken
// replaces the ETA.
func (m *meter) line(c counts, final bool) string {
	s := fmt.Sprintf("%s: %d", m.op, c.objs)
	if c.totalObjs >= 0 {
		s += fmt.Sprintf("/%d", c.totalObjs)
	}
	s += " " + m.unit
	switch {
	case c.totalBytes > 0:
		s += fmt.Sprintf(", %s/%s", sizeText(c.bytes), sizeText(c.totalBytes))
	case c.bytes > 0:
		s += ", " + sizeText(c.bytes)
	}
	if c.byBytes() {
		s += fmt.Sprintf(", %s/s", sizeText(int64(c.rate())))
	} else {
		s += fmt.Sprintf(", %.1f %s/s", c.rate(), m.unit)
	}
	if final {
		return s + fmt.Sprintf(", in %v", c.elapsed.Round(time.Second))
	}
	if eta, ok := c.eta(); ok {
		s += fmt.Sprintf(", eta %v", eta)
	}
	return s
}

// record is the meter as the fields of a JSON log record.
func (m *meter) record(c counts) []any {
	a := append([]any{"op", m.op}, m.attrs...)
	a = append(a, "unit", m.unit, "objects", c.objs, "bytes", c.bytes, "elapsed", c.elapsed)
	if c.totalObjs >= 0 {
		a = append(a, "objects_total", c.totalObjs, "bytes_total", c.totalBytes)
	}
	if c.byBytes() {
		a = append(a, "bytes_per_sec", int64(c.rate()))
	}
	if eta, ok := c.eta(); ok {
		a = append(a, "eta", eta)
	}
	return a
}

// show draws the bar or writes a log line. final: the command is done
// (or failed); a log line is written then only if one was before.
func (m *meter) show(final bool) {
	c := m.counts()
	if m.term {
		m.showBar(c, final)
		return
	}
	if final && m.lines == 0 {
		return
	}
	m.lines++
	msg := "progress"
	if final {
		msg = "progress done"
	}
	if logJSON {
		m.log.Info(msg, m.record(c)...)
	} else {
		m.log.Info(m.line(c, final))
	}
}

func (m *meter) showBar(c counts, final bool) {
	max, cur := c.totalObjs, c.objs
	if c.byBytes() {
		max, cur = c.totalBytes, c.bytes
	}
	if max == 0 {
		max = -1 // nothing to count: a spinner
	}
	if m.bar == nil { // once the unit is known: bytes or objects
		m.bar = progressbar.NewOptions64(max,
			progressbar.OptionSetWriter(logOutput),
			progressbar.OptionSetWidth(30),
			progressbar.OptionShowBytes(c.byBytes()),
			progressbar.OptionShowCount(),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionUseIECUnits(true),
			progressbar.OptionThrottle(0)) // the meter's ticks pace it
	}
	if max != m.bar.GetMax64() {
		m.bar.ChangeMax64(max)
	}
	desc := fmt.Sprintf("%s %d", m.op, c.objs)
	if c.totalObjs >= 0 {
		desc += fmt.Sprintf("/%d", c.totalObjs)
	}
	m.bar.Describe(desc + " " + m.unit)
	m.bar.Set64(cur)
	if final {
		m.bar.Exit()
		fmt.Fprintln(logOutput)
	}
}

// isTerminal says whether w is a terminal (a bar can be drawn on it).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// sizeText is n bytes for a person: "812 B", "1.2 GiB", "180 MiB".
func sizeText(n int64) string {
	if n < 1024 {
		return fmt.Sprintf("%d B", n)
	}
	units := []string{"KiB", "MiB", "GiB", "TiB", "PiB"}
	v, unit := float64(n), ""
	for i, u := range units {
		if v /= 1024; v < 1024 || i == len(units)-1 {
			unit = u
			break
		}
	}
	if v < 9.95 {
		return fmt.Sprintf("%.1f %s", v, unit)
	}
	return fmt.Sprintf("%.0f %s", v, unit)
}
