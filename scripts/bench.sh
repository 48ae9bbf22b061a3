#!/usr/bin/env bash
# bench.sh [BENCH ARGS...]: run every benchmark of the benchmark program in
# one go, against a private MinIO and Azurite (started by testenv.sh,
# installed on first use), and print:
#   - file store: ship and restore throughput next to a plain fsync'd copy,
#     the agent's peak RSS;
#   - MinIO and the GCS emulator: ship and restore throughput next to plain
#     PUTs/GETs of the same objects (minio-go, aws-sdk-go-v2, the GCS client),
#     store calls per GB, the restore estimate against the restore's time;
#   - several stores at once (file + MinIO + Azurite): per-store shipping lag
#     p50/p99 at a steady 20 MB/s, the same with MinIO killed, and upload
#     rate-limit accuracy (this part stops and restarts testenv's MinIO).
#   - encryption on vs off (-store crypt): segments sealed by the v1 writer,
#     the v2 writer plain and encrypted, and pitr restores from a file store
#     of each, side by side with the ratios (target: encrypted at least 0.90x
#     of plain).
# Arguments go to `go run ./bench` after the default -store all and override
# it (e.g. -store minio -size 64MiB, -store multi -lag-secs 20s -limit-secs 15s).
set -euo pipefail
cd "$(dirname "$0")/.."
exec scripts/testenv.sh go run ./bench -store all "$@"
