package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"

	"github.com/walship/walship/backends/file"
	"github.com/walship/walship/backends/metered"
	"github.com/walship/walship/crypt"
	"github.com/walship/walship/pitr"
	"github.com/walship/walship/segments"
	"github.com/walship/walship/wal"
)

// -store crypt: what encryption costs, side by side in one run, on the same
// entries (the JSON-like records of generate) and codec:
//
//   - seal: segments of 16 MiB (the agent's default) written in memory with
//     segments.NewWriter (v1), NewWriterV2 plain and NewWriterV2 encrypted to
//     one X25519 recipient, in MB/s of source (binary WAL) bytes: the CPU
//     work shipping adds per byte (the agent does not encrypt yet, so its
//     ship loop is not measured here);
//   - restore: pitr (plan, Measure, Execute; the identity for the
//     encrypted store) from a file store of each kind of segment, in MB/s of
//     restored WAL bytes, and the store calls each restore made.
//
// Each measurement runs cryptRounds times, the variants in turn (the first
// one rotating), and the best of each is kept: the ratios compare runs of
// the same moment on a noisy machine.

// cryptRounds is how many times each variant is measured.
const cryptRounds = 5

// sealSize is the raw size at which a segment is finished, as the agent's
// default seal size.
const sealSize = 16 << 20

// cryptVariant is one kind of segment.
type cryptVariant struct {
	name       string
	version    int
	recipients []*crypt.Recipient
}

func (v cryptVariant) writer(sink segments.Sink, codec segments.Codec) (segments.SegmentWriter, error) {
	if v.version == 1 {
		return segments.NewWriter(sink, 1, uint8(wal.FormatBinary), codec)
	}
	return segments.NewWriterV2(sink, 1, uint8(wal.FormatBinary), codec, v.recipients)
}

// cryptResult is one variant's best run of each measurement: wall time
// and CPU seconds of this process (the steadier of the two on a shared
// machine).
type cryptResult struct {
	seal, restore       time.Duration
	sealCPU, restoreCPU float64
	stored              int64
	calls               metered.Counts
}

func benchCrypt(dir string, size int64, codec segments.Codec) error {
	es, source := cryptEntries(size)
	id, err := crypt.GenerateIdentity()
	if err != nil {
		return err
	}
	r, _ := id.Recipient()
	ids := []*crypt.Identity{id}
	vs := []cryptVariant{{name: "v1", version: 1}, {name: "v2 plain", version: 2}, {name: "v2 encrypted", version: 2, recipients: []*crypt.Recipient{r}}}
	fmt.Printf("\nencryption cost (%s of source, %d entries, codec %s, %d rounds, best of each)\n", human(source), len(es), codec, cryptRounds)
	res := make([]cryptResult, len(vs))
	for round := range cryptRounds {
		for k := range vs {
			i := (k + round) % len(vs)
			start, cpu := time.Now(), cpuSeconds()
			stored, err := sealAll(es, vs[i], codec, nil)
			if err != nil {
				return fmt.Errorf("seal %s: %w", vs[i].name, err)
			}
			res[i].seal = best(res[i].seal, time.Since(start))
			res[i].sealCPU = bestCPU(res[i].sealCPU, cpuSeconds()-cpu)
			res[i].stored = stored
		}
	}
	for i, v := range vs {
		storeDir := filepath.Join(dir, fmt.Sprintf("store-%d", i))
		if err := writeCryptStore(storeDir, es, v, codec); err != nil {
			return fmt.Errorf("store %s: %w", v.name, err)
		}
	}
	for round := range cryptRounds {
		for k := range vs {
			i := (k + round) % len(vs)
			cpu := cpuSeconds()
			took, calls, err := restoreCrypt(dir, i, ids, source)
			if err != nil {
				return fmt.Errorf("restore %s: %w", vs[i].name, err)
			}
			res[i].restore = best(res[i].restore, took)
			res[i].restoreCPU = bestCPU(res[i].restoreCPU, cpuSeconds()-cpu)
			res[i].calls = calls
		}
	}
	printCrypt(vs, res, source)
	return nil
}

// cryptEntries makes entries of about size source bytes (as a binary
// tidwall/wal log holds them: a uvarint length, then the data).
func cryptEntries(size int64) ([]segments.Entry, int64) {
	rng := rand.New(rand.NewPCG(1, 1))
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC).UnixNano()
	var es []segments.Entry
	var n int64
	for i := uint64(1); n < size; i++ {
		d := record(rng, i)
		es = append(es, segments.Entry{Index: i, Time: t0 + int64(i)*int64(time.Microsecond), Data: d})
		n += int64(len(d) + binary.PutUvarint(make([]byte, binary.MaxVarintLen64), uint64(len(d))))
	}
	return es, n
}

// sealAll writes es as segments of sealSize raw bytes, each into memory,
// handing each finished one to put when not nil; it returns the stored
// bytes.
func sealAll(es []segments.Entry, v cryptVariant, codec segments.Codec, put func(key string, b []byte) error) (int64, error) {
	var sink memSink
	var stored int64
	for len(es) > 0 {
		sink.b = sink.b[:0]
		w, err := v.writer(&sink, codec)
		if err != nil {
			return 0, err
		}
		for len(es) > 0 && w.RawLen() < sealSize {
			if err := w.Append(es[0]); err != nil {
				w.Abort()
				return 0, err
			}
			es = es[1:]
		}
		h, err := w.Finish()
		if err != nil {
			return 0, err
		}
		stored += int64(len(sink.b))
		if put != nil {
			if err := put(segments.NameOf(h).Key(), sink.b); err != nil {
				return 0, err
			}
		}
	}
	return stored, nil
}

// writeCryptStore writes a file store of timeline 1 holding es as v's
// segments.
func writeCryptStore(dir string, es []segments.Entry, v cryptVariant, codec segments.Codec) error {
	rec, err := segments.EncodeTimeline(segments.Timeline{ID: 1, StartIndex: 1, Reason: "bench", Time: time.Unix(0, es[0].Time).UTC()})
	if err != nil {
		return err
	}
	if err := writeObject(dir, segments.TimelineKey(1), rec); err != nil {
		return err
	}
	_, err = sealAll(es, v, codec, func(key string, b []byte) error { return writeObject(dir, key, b) })
	return err
}

// restoreCrypt restores store i of dir (with ids) into a new directory,
// removed after, and returns Execute's time and the store calls of the
// whole restore (plan and estimate included).
func restoreCrypt(dir string, i int, ids []*crypt.Identity, source int64) (time.Duration, metered.Counts, error) {
	fst, err := file.Open(filepath.Join(dir, fmt.Sprintf("store-%d", i)))
	if err != nil {
		return 0, metered.Counts{}, err
	}
	st := metered.New(fst)
	out := filepath.Join(dir, fmt.Sprintf("restored-%d", i))
	defer os.RemoveAll(out)
	est, err := restoreEstimated(context.Background(), st, out, pitr.Options{Identities: ids})
	if err != nil {
		return 0, st.Counts(), err
	}
	if est.res.LogBytes != source {
		return 0, st.Counts(), fmt.Errorf("restored %d log bytes, source %d", est.res.LogBytes, source)
	}
	return est.took, st.Counts(), nil
}

func best(cur, d time.Duration) time.Duration {
	if cur == 0 {
		return d
	}
	return min(cur, d)
}

func bestCPU(cur, s float64) float64 {
	if cur == 0 {
		return s
	}
	return min(cur, s)
}

// printCrypt prints each variant's rates and its ratios to v1 and, for
// the encrypted one, to v2 plain: 0.90 and above meets the 10% target.
func printCrypt(vs []cryptVariant, res []cryptResult, source int64) {
	fmt.Printf("%-13s %11s %6s %6s %11s %6s %7s %9s %s\n", "segments", "seal", "vs v1", "CPU-s", "restore", "vs v1", "CPU-s", "stored", "restore calls")
	for i, v := range vs {
		fmt.Printf("%-13s %6.1f MB/s %5.3fx %6.3f %6.1f MB/s %5.3fx %7.3f %9s %s\n", v.name,
			mbs(source, res[i].seal), res[0].seal.Seconds()/res[i].seal.Seconds(), res[i].sealCPU,
			mbs(source, res[i].restore), res[0].restore.Seconds()/res[i].restore.Seconds(), res[i].restoreCPU,
			human(res[i].stored), reqs(res[i].calls))
	}
	enc, plain := res[len(res)-1], res[len(res)-2]
	calls := func(c metered.Counts) metered.Counts { c.BytesDown = 0; return c }
	sameCalls := calls(enc.calls) == calls(plain.calls) && calls(plain.calls) == calls(res[0].calls)
	fmt.Printf("encrypted vs plain v2 (target: at least 0.90x): seal %.3fx (CPU %.3fx), restore %.3fx (CPU %.3fx); %+d stored bytes; same store calls as plain v2 and v1: %t\n",
		plain.seal.Seconds()/enc.seal.Seconds(), plain.sealCPU/enc.sealCPU,
		plain.restore.Seconds()/enc.restore.Seconds(), plain.restoreCPU/enc.restoreCPU, enc.stored-plain.stored, sameCalls)
}
