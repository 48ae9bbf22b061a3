#!/usr/bin/env bash
# bench.sh [BENCH ARGS...]: run the benchmark program against a private MinIO
# (started by testenv.sh, installed on first use) and print walship's ship
# and restore throughput next to plain PutObject/GetObject of the same
# objects, with store calls per GB. Arguments go to `go run ./bench` and
# override the defaults (-store minio; e.g. -size 64MiB, -clients minio,
# -store all to add the file-store measurement).
set -euo pipefail
cd "$(dirname "$0")/.."
export WALSHIP_TESTENV_NO_AZURITE="${WALSHIP_TESTENV_NO_AZURITE:-1}" # the bench needs only MinIO
exec scripts/testenv.sh go run ./bench -store minio "$@"
