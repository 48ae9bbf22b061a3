#!/usr/bin/env bash
# soak.sh [DURATION]: run the seeded fault-injection checker (e2e/faultcheck)
# against real MinIO, Azurite and Toxiproxy (scripts/testenv.sh) for
# DURATION (default 4h), then print its summary: runs, kills, faults by
# kind, entries compared, wrong answers, refusals by reason, worst
# healthy-store staleness. A summary is also printed every 25 runs.
#
# Every failed run prints its seed, run number and full step list; rerun
# it with
#   scripts/testenv.sh go run ./e2e/faultcheck/cmd/faultcheck -seed S -only N -v
# Environment: SOAK_SEED (default: the time), SOAK_RUN (planned length of one
# run, default 20s), SOAK_WORKDIR (default /tmp/walship-soak-SEED; failed
# runs' dirs with agent logs are kept there). Exits 1 if any run failed.
set -euo pipefail
cd "$(dirname "$0")/.."

dur=${1:-4h}
seed=${SOAK_SEED:-$(date +%s)}
workdir=${SOAK_WORKDIR:-${TMPDIR:-/tmp}/walship-soak-$seed}
bindir=$(mktemp -d "${TMPDIR:-/tmp}/walship-soak-bin.XXXXXX")
trap 'rm -rf "$bindir"' EXIT

go build -o "$bindir/faultcheck" ./e2e/faultcheck/cmd/faultcheck
go build -o "$bindir/walship" ./cmd/walship
echo "soak: seed $seed for $dur, runs of ${SOAK_RUN:-20s}, work dir $workdir" >&2
set +e
scripts/testenv.sh "$bindir/faultcheck" -seed "$seed" -runs 0 -for "$dur" -duration "${SOAK_RUN:-20s}" \
	-walship "$bindir/walship" -workdir "$workdir"
rc=$?
set -e
if [ "$rc" -eq 0 ]; then rm -rf "$workdir"; fi
exit "$rc"
