package agent

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/walship/walship/crypt"
	"github.com/walship/walship/segments"
)

// Encrypted stores and the spool. The spool's truth is the plain (format
// v1) segment, STATE/spool/NAME: recovery, the fork check and the sealed
// history read it, and they need plaintext, which the agent (holding no
// identity) could not get back from a ciphertext. For each distinct set of
// recipients among the stores, an encrypted copy (format v2) lives beside
// it:
//
//	STATE/spool/to-SETID/NAME        SETID: 16 hex digits naming the set
//	STATE/spool/to-SETID/open-N.tmp  a variant being written
//
// The seal pipe's worker compresses a segment once (the plain file) and
// encrypts that payload once per set (segments.EncryptV1), each into a temp
// file it fsyncs; the committer renames the variants into place before
// the plain file, so a plain item the spool names has its variants. The
// stores of a set upload its variant; a variant goes when every store of
// its set has it, the plain file when every store has it (the spool bound
// counts both). Crash rules: a temp file is never uploaded and is removed
// at start; so is a variant whose plain item is gone, whose set no store
// uses any more, or whose header does not match its plain item (range,
// count, raw length, codec, source format, times, recipients) or its size.
// A variant missing for an item a store still needs (a crash, a new or
// changed recipient set) is rebuilt from the plain file before upload.

// recipientSet is one distinct set of recipients among the stores.
type recipientSet struct {
	id  string // names the spool dir: hex of SHA-256 of the sorted fingerprints, 8 bytes
	rs  []*crypt.Recipient
	fps []crypt.Fingerprint
}

const variantDirPrefix = "to-"

// recipientSets groups the stores by recipient set: the distinct sets, and
// each store's (nil for a plain store), in store order.
func recipientSets(stores []Store) (sets []*recipientSet, byStore []*recipientSet) {
	byID := map[string]*recipientSet{}
	for _, s := range stores {
		fps := crypt.Fingerprints(s.Recipients)
		if len(fps) == 0 {
			byStore = append(byStore, nil)
			continue
		}
		sum := sha256.New()
		for _, fp := range fps {
			sum.Write(fp[:])
		}
		id := hex.EncodeToString(sum.Sum(nil)[:8])
		set := byID[id]
		if set == nil {
			set = &recipientSet{id: id, rs: s.Recipients, fps: fps}
			byID[id] = set
			sets = append(sets, set)
		}
		byStore = append(byStore, set)
	}
	return sets, byStore
}

func (s *spool) variantDir(set string) string { return filepath.Join(s.dir, variantDirPrefix+set) }

func (s *spool) variantPath(set, item string) string {
	return filepath.Join(s.variantDir(set), item)
}

// makeVariantDirs creates each set's dir (0700), durably.
func (s *spool) makeVariantDirs(sets []*recipientSet) error {
	made := false
	for _, set := range sets {
		dir := s.variantDir(set.id)
		if _, err := os.Stat(dir); err == nil {
			continue
		}
		if err := os.Mkdir(dir, stateDirPerm); err != nil {
			return fmt.Errorf("spool: create %s: %w", dir, err)
		}
		made = true
	}
	if made {
		return syncDir(s.dir)
	}
	return nil
}

// writeVariant encrypts the plain segment at plain to set into a new temp
// file of the set's dir and fsyncs it: the temp file's path and size.
func (s *spool) writeVariant(set *recipientSet, plain string) (tmp string, size int64, err error) {
	src, err := os.Open(plain)
	if err != nil {
		return "", 0, fmt.Errorf("spool: encrypt %s: %w", filepath.Base(plain), err)
	}
	defer src.Close()
	name := fmt.Sprintf("%s-%d%s", openPrefix, s.seq.Add(1), openSuffix)
	tmp = filepath.Join(s.variantDir(set.id), name)
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_EXCL|os.O_RDWR, stateFilePerm)
	if err != nil {
		return "", 0, fmt.Errorf("spool: encrypt %s: %w", filepath.Base(plain), err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	h, err := segments.EncryptV1(f, src, set.rs)
	if err != nil {
		return "", 0, fmt.Errorf("spool: encrypt %s to set %s: %w", filepath.Base(plain), set.id, err)
	}
	if err := f.Sync(); err != nil {
		return "", 0, fmt.Errorf("spool: fsync %s: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		return "", 0, fmt.Errorf("spool: close %s: %w", tmp, err)
	}
	return tmp, h.ObjectSize(), nil
}

// commitVariant gives a written variant its item name, durably.
func (s *spool) commitVariant(set, tmp, item string) error {
	final := s.variantPath(set, item)
	if err := os.Rename(tmp, final); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("spool: seal variant %s of %s: %w", set, item, err)
	}
	if err := syncDir(s.variantDir(set)); err != nil {
		os.Remove(final)
		return err
	}
	return nil
}

// checkVariant says whether the variant file of item for set is whole and
// is item's segment encrypted to set: its header parses and agrees with
// the plain item's, and the file is as long as the header says. It
// returns the variant's size.
func (s *spool) checkVariant(set *recipientSet, item string) (int64, error) {
	plain, _, err := readHeaderFile(s.path(item))
	if err != nil {
		return 0, err
	}
	path := s.variantPath(set.id, item)
	h, _, err := readHeaderFile(path)
	if err != nil {
		return 0, err
	}
	fi, err := os.Stat(path)
	if err != nil {
		return 0, fmt.Errorf("spool: %w", err)
	}
	if !sameEntries(h, plain) || !slices.Equal(h.Recipients, set.fps) || fi.Size() != h.ObjectSize() {
		return 0, fmt.Errorf("spool: variant %s of %s does not match its plain segment", set.id, item)
	}
	return fi.Size(), nil
}

// sameEntries says whether two segment headers describe the same sealed
// segment as far as a clear header can: range, count, times, raw length,
// codec and source format. (The stored length, checksum and recipients
// differ between a plain segment and its encryptions.)
func sameEntries(a, b segments.Header) bool {
	return a.Timeline == b.Timeline && a.First == b.First && a.Last == b.Last && a.Count == b.Count &&
		a.MinTime == b.MinTime && a.MaxTime == b.MaxTime && a.RawLen == b.RawLen &&
		a.Codec == b.Codec && a.SourceFormat == b.SourceFormat
}

// readHeaderFile reads the header of the segment file at path: the parsed
// header and its bytes.
func readHeaderFile(path string) (segments.Header, []byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return segments.Header{}, nil, fmt.Errorf("spool: %w", err)
	}
	defer f.Close()
	h, b, err := segments.ReadHeader(f)
	if err != nil {
		return h, nil, fmt.Errorf("spool %s: read header: %w", filepath.Base(path), err)
	}
	return h, b, nil
}

// cleanVariants runs at start, before anything ships: it removes temp
// files, dirs of sets no store uses, variants of items the spool no longer
// holds and variants that do not check out, and returns the sizes of those
// kept, per item and set.
func (s *spool) cleanVariants(sets []*recipientSet, items []string, log *slog.Logger) (map[string]map[string]int64, error) {
	ents, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("clean spool %s: %w", s.dir, err)
	}
	known := map[string]*recipientSet{}
	for _, set := range sets {
		known[set.id] = set
	}
	have := map[string]bool{}
	for _, it := range items {
		have[it] = true
	}
	kept := map[string]map[string]int64{}
	for _, e := range ents {
		id, ok := strings.CutPrefix(e.Name(), variantDirPrefix)
		if !ok || !e.IsDir() {
			continue
		}
		dir := filepath.Join(s.dir, e.Name())
		set := known[id]
		if set == nil {
			log.Info("spool: removing the encrypted copies of a recipient set no store uses any more", "set", id)
			if err := os.RemoveAll(dir); err != nil {
				return nil, fmt.Errorf("clean spool %s: %w", dir, err)
			}
			continue
		}
		files, err := os.ReadDir(dir)
		if err != nil {
			return nil, fmt.Errorf("clean spool %s: %w", dir, err)
		}
		for _, f := range files {
			name := f.Name()
			size, err := int64(0), error(nil)
			if have[name] {
				size, err = s.checkVariant(set, name)
				if err != nil {
					log.Warn("spool: an encrypted copy does not check out; it is made again from the plain segment", "item", name, "set", id, "err", err)
				}
			}
			if !have[name] || err != nil {
				if err := os.Remove(filepath.Join(dir, name)); err != nil && !os.IsNotExist(err) {
					return nil, fmt.Errorf("clean spool %s: %w", dir, err)
				}
				continue
			}
			if kept[name] == nil {
				kept[name] = map[string]int64{}
			}
			kept[name][id] = size
		}
	}
	return kept, nil
}
