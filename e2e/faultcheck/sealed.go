package faultcheck

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	mgo "github.com/minio/minio-go/v7"

	"github.com/walship/walship/crypt"
	"github.com/walship/walship/segments"
)

// objectReader reads a store's objects straight from its server (the file
// store's dir, MinIO, Azurite, fake-gcs-server), neither through walship's store code nor
// through Toxiproxy: what is checked is what the server holds.
type objectReader interface {
	// list calls fn with the key of every object under prefix.
	list(ctx context.Context, prefix string, fn func(key string) error) error
	// read returns the object's first n bytes (all of it when n < 0).
	read(ctx context.Context, key string, n int64) ([]byte, error)
}

// objects is the reader of one of the run's stores.
func (r *run) objects(s StoreURL) (objectReader, error) {
	switch s.Name {
	case StoreFile:
		return fileObjects{root: filepath.Join(r.dir, "filestore")}, nil
	case TargetMinio:
		return minioObjects{c: r.c.mc, bucket: r.c.bucket, prefix: r.prefix + "/"}, nil
	case TargetAzure:
		cc, err := r.c.containerClient(r.c.container)
		return azureObjects{c: cc, prefix: r.prefix + "/"}, err
	case TargetGCS:
		return gcsObjects{b: r.c.gc.Bucket(r.bucket), prefix: r.prefix + "/"}, nil
	}
	return nil, fmt.Errorf("no object reader for store %q", s.Name)
}

type fileObjects struct{ root string }

func (f fileObjects) list(_ context.Context, prefix string, fn func(string) error) error {
	err := filepath.WalkDir(filepath.Join(f.root, filepath.FromSlash(prefix)), func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		rel, err := filepath.Rel(f.root, p)
		if err != nil {
			return err
		}
		return fn(filepath.ToSlash(rel))
	})
	if errors.Is(err, fs.ErrNotExist) {
		return nil // nothing stored under prefix
	}
	return err
}

func (f fileObjects) read(_ context.Context, key string, n int64) ([]byte, error) {
	o, err := os.Open(filepath.Join(f.root, filepath.FromSlash(key)))
	if err != nil {
		return nil, err
	}
	defer o.Close()
	return readUpTo(o, n)
}

type minioObjects struct {
	c              *mgo.Client
	bucket, prefix string
}

func (m minioObjects) list(ctx context.Context, prefix string, fn func(string) error) error {
	for o := range m.c.ListObjects(ctx, m.bucket, mgo.ListObjectsOptions{Prefix: m.prefix + prefix, Recursive: true}) {
		if o.Err != nil {
			return fmt.Errorf("list %s: %w", m.prefix+prefix, o.Err)
		}
		if err := fn(strings.TrimPrefix(o.Key, m.prefix)); err != nil {
			return err
		}
	}
	return nil
}

func (m minioObjects) read(ctx context.Context, key string, n int64) ([]byte, error) {
	var opts mgo.GetObjectOptions
	if n > 0 {
		if err := opts.SetRange(0, n-1); err != nil {
			return nil, err
		}
	}
	o, err := m.c.GetObject(ctx, m.bucket, m.prefix+key, opts)
	if err != nil {
		return nil, fmt.Errorf("get %s: %w", key, err)
	}
	defer o.Close()
	return readUpTo(o, n)
}

type azureObjects struct {
	c      *container.Client
	prefix string
}

func (a azureObjects) list(ctx context.Context, prefix string, fn func(string) error) error {
	full := a.prefix + prefix
	pager := a.c.NewListBlobsFlatPager(&container.ListBlobsFlatOptions{Prefix: &full})
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("list %s: %w", full, err)
		}
		for _, it := range page.Segment.BlobItems {
			if err := fn(strings.TrimPrefix(*it.Name, a.prefix)); err != nil {
				return err
			}
		}
	}
	return nil
}

func (a azureObjects) read(ctx context.Context, key string, n int64) ([]byte, error) {
	var opts blob.DownloadStreamOptions
	if n > 0 {
		opts.Range = blob.HTTPRange{Count: n}
	}
	resp, err := a.c.NewBlobClient(a.prefix+key).DownloadStream(ctx, &opts)
	if err != nil {
		return nil, fmt.Errorf("get %s: %w", key, err)
	}
	defer resp.Body.Close()
	return readUpTo(resp.Body, n)
}

func readUpTo(r io.Reader, n int64) ([]byte, error) {
	if n >= 0 {
		r = io.LimitReader(r, n)
	}
	return io.ReadAll(r)
}

// sealedReport is what checkSealed found in one encrypted store.
type sealedReport struct {
	Objects  int      // objects checked
	Segments int      // of them segments
	Bad      []string // objects not sealed to the store's recipient alone (capped)
	more     int
}

func (s *sealedReport) note(format string, a ...any) {
	if len(s.Bad) < 3 {
		s.Bad = append(s.Bad, fmt.Sprintf(format, a...))
	} else {
		s.more++
	}
}

// sealedKinds is every prefix holding the log or its bases, with how much
// of an object shows how it is stored (-1: all of it) and the check of
// that: its version and the fingerprints it records in the clear.
var sealedKinds = []struct {
	prefix string
	n      int64
	info   func([]byte) (version int, fps []crypt.Fingerprint, err error)
}{
	{segments.SegmentsPrefix, int64(segments.MaxHeaderSize), func(b []byte) (int, []crypt.Fingerprint, error) {
		h, _, err := segments.ReadHeader(bytes.NewReader(b))
		return int(h.Version), h.Recipients, err
	}},
	{segments.ChunksPrefix, int64(segments.MaxChunkHeaderSize), func(b []byte) (int, []crypt.Fingerprint, error) {
		h, err := segments.ReadChunkHeader(bytes.NewReader(b))
		return h.Version, h.Recipients, err
	}},
	{segments.TimelinesPrefix, -1, func(b []byte) (int, []crypt.Fingerprint, error) {
		_, info, err := segments.DecodeTimelineWith(b, nil)
		return info.Version, info.Recipients, err
	}},
	{segments.SnapshotsPrefix, -1, func(b []byte) (int, []crypt.Fingerprint, error) {
		_, info, err := segments.DecodeSnapshotWith(b, nil)
		return info.Version, info.Recipients, err
	}},
}

// checkSealed reads, without an identity, how every segment, base chunk,
// timeline record and base manifest of an encrypted store is stored: each
// must be version 2 and sealed to exactly the recipients want (its clear
// header or record names their fingerprints). A plaintext object in an
// encrypted store is a leak the restore comparison cannot see.
func checkSealed(ctx context.Context, or objectReader, want []crypt.Fingerprint) (sealedReport, error) {
	want = slices.SortedFunc(slices.Values(want), func(a, b crypt.Fingerprint) int { return bytes.Compare(a[:], b[:]) })
	var rep sealedReport
	for _, k := range sealedKinds {
		err := or.list(ctx, k.prefix, func(key string) error {
			if strings.HasPrefix(key, inProgressPrefix) {
				return nil // a marker of a base being uploaded: an id and a time
			}
			b, err := or.read(ctx, key, k.n)
			if err != nil {
				return err
			}
			rep.Objects++
			if k.prefix == segments.SegmentsPrefix {
				rep.Segments++
			}
			v, fps, err := k.info(b)
			switch {
			case err != nil:
				rep.note("%s: %v", key, err)
			case len(fps) == 0:
				rep.note("PLAINTEXT %s (version %d) in an encrypted store", key, v)
			case v != 2 || !slices.Equal(fps, want):
				rep.note("%s: version %d sealed to %v, want version 2 sealed to %v", key, v, fps, want)
			}
			return nil
		})
		if err != nil {
			return rep, err
		}
	}
	if rep.more > 0 {
		rep.Bad = append(rep.Bad, fmt.Sprintf("and %d more", rep.more))
	}
	return rep, nil
}

// inProgressPrefix is where a base upload's marker lives (snapshot package).
const inProgressPrefix = segments.SnapshotsPrefix + "inprogress/"
