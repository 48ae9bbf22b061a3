#!/usr/bin/env bash
# test.sh [GO TEST ARGS...]: vet everything, fuzz every decoder briefly
# (scripts/fuzz.sh), then run every test with -race
# against real MinIO, Azurite and fake-gcs-server (see testenv.sh). Extra arguments go
# to `go test` (e.g. -run TestConformance, -v, or package patterns that
# replace ./...). Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."

go vet ./...

pkgs=(./...)
args=()
for a in "$@"; do
	case "$a" in
	./* | github.com/*) args+=("$a"); pkgs=() ;;
	*) args+=("$a") ;;
	esac
done
# Every decoder of outside bytes is fuzzed briefly (scripts/fuzz.sh runs
# each target; FUZZTIME=0 skips them for a quick local run). A count, not a
# duration: a slow input still running when a duration ends makes go test
# report "context deadline exceeded" as a failure.
if [ "${FUZZTIME:-3000x}" != 0 ]; then
	scripts/fuzz.sh "${FUZZTIME:-3000x}"
fi
exec scripts/testenv.sh go test -race -count=1 "${pkgs[@]}" "${args[@]}"
