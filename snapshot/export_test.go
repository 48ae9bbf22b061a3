package snapshot

import (
	"context"

	"github.com/walship/walship/backends"
)

// SetAfterLink makes a Freeze call f with its staging dir after linking
// (and thawing), before the upload reads any file.
func SetAfterLink(o *Options, f func(staging string)) { o.afterLink = f }

// SetAfterFile makes the upload call f after reading each file, with the
// count of files read.
func SetAfterFile(o *Options, f func(n int)) { o.afterFile = f }

// RestoreFilesUnchecked restores m without validating it first, to show
// that the os.Root and O_EXCL still keep a hostile manifest inside.
func RestoreFilesUnchecked(ctx context.Context, st backends.Store, m Manifest, dataDir string) error {
	return restoreFiles(ctx, st, m, dataDir, restoreOptions{parallel: 2, skipValidate: true})
}
