// Package e2e holds end-to-end tests of the walship command against real
// object store servers (MinIO through the s3 and minio clients, Azurite
// through azblob), started by scripts/testenv.sh. The tests build the CLI
// once, run it as a subprocess with credentials from the environment the
// way a user would, and compare what it restores with what a tidwall/wal
// writer in the test process wrote. Without the servers' environment the
// tests skip; with CI=true (or WALSHIP_REQUIRE_SERVERS=1) they fail.
//
// TestStoreOutage ships to a file store, MinIO and Azurite at once and
// kills MinIO for a minute. It kills a MinIO of its own (started from
// WALSHIP_TEST_MINIO_BIN, pid recorded in WALSHIP_TEST_PIDFILE), not the
// shared one: `go test ./...` runs other packages' store tests against the
// shared server at the same time.
//
//	scripts/testenv.sh go test -race -count=1 ./e2e/
package e2e
