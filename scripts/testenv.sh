#!/usr/bin/env bash
# testenv.sh CMD [ARGS...]: run CMD with a private MinIO (S3), Azurite
# (Azure Blob), fake-gcs-server (Google Cloud Storage) and Toxiproxy (TCP
# fault proxy) server on free loopback ports, then stop them.
#
# Installs what is missing into ${WALSHIP_TOOLS:-$HOME/.cache/walship}:
#   bin/minio            go install github.com/minio/minio@$MINIO_VERSION (~2.5 min, ~1.5 GB RAM, once)
#   azurite/             npm install azurite@$AZURITE_VERSION
#   bin/server           go install github.com/Shopify/toxiproxy/v2/cmd/server@$TOXIPROXY_VERSION (Toxiproxy)
#   bin/fake-gcs-server  go install github.com/fsouza/fake-gcs-server@$FAKE_GCS_VERSION (~1 min, once)
# Needs: go, node+npm, curl, python3 (or bash /dev/tcp) on PATH.
#
# Exported to CMD (store tests read these; without them they skip, and with
# CI=true or WALSHIP_REQUIRE_SERVERS=1 they fail):
#   WALSHIP_TEST_MINIO_ENDPOINT    host:port of MinIO (plain HTTP)
#   WALSHIP_TEST_MINIO_ACCESS_KEY  MinIO root user
#   WALSHIP_TEST_MINIO_SECRET_KEY  MinIO root password
#   WALSHIP_TEST_MINIO_PID         MinIO's process id (tests may stop/restart it)
#   WALSHIP_TEST_MINIO_BIN         MinIO binary
#   WALSHIP_TEST_MINIO_DATA        MinIO's data directory
#   WALSHIP_TEST_MINIO_PORT        MinIO's S3 port (WALSHIP_TEST_MINIO_CONSOLE_PORT: console)
#   WALSHIP_TEST_MINIO_CMD         a shell command line that restarts MinIO identically
#   WALSHIP_TEST_AZURITE_ENDPOINT  http://127.0.0.1:PORT/devstoreaccount1 (blob service URL)
#   WALSHIP_TEST_AZURITE_CONNSTR   connection string for the emulator account
#   WALSHIP_TEST_AZURITE_ACCOUNT   devstoreaccount1
#   WALSHIP_TEST_AZURITE_KEY       the emulator's well-known account key
#   WALSHIP_TEST_AZURITE_PID       Azurite's process id
#   WALSHIP_TEST_AZURITE_BIN       azurite-blob script
#   WALSHIP_TEST_AZURITE_DATA      Azurite's data directory
#   WALSHIP_TEST_AZURITE_PORT      Azurite's blob port
#   WALSHIP_TEST_AZURITE_CMD       a shell command line that restarts Azurite identically
#   WALSHIP_TEST_GCS_ENDPOINT      http://127.0.0.1:PORT, fake-gcs-server's base URL (plain HTTP, no
#                                  credentials; its JSON API is under /storage/v1/)
#   WALSHIP_TEST_GCS_PID           fake-gcs-server's process id
#   WALSHIP_TEST_GCS_BIN           fake-gcs-server binary
#   WALSHIP_TEST_GCS_DATA          its data directory (filesystem backend)
#   WALSHIP_TEST_GCS_PORT          its port
#   WALSHIP_TEST_GCS_CMD           a shell command line that restarts fake-gcs-server identically
#   WALSHIP_TEST_TOXIPROXY         host:port of Toxiproxy's HTTP API (tests create proxies
#                                  with listen 127.0.0.1:0 and delete them when done)
#   WALSHIP_TEST_TOXIPROXY_PID     Toxiproxy's process id
# and, for end-to-end tests that go through the real credential chains:
#   MINIO_ACCESS_KEY MINIO_SECRET_KEY AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY
#   AWS_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
#   AZURE_STORAGE_CONNECTION_STRING
# (STORAGE_EMULATOR_HOST is not exported: gs:// stores name the emulator
# with ?endpoint=, so a test cannot reach it by accident.)
# To restart a server a test killed: run `bash -c "$WALSHIP_TEST_MINIO_CMD"` in
# the background (the CMD lines exec, so that process's pid is the server's),
# with the same data directory and port, and append its pid to
# $WALSHIP_TEST_PIDFILE (one per line): every pid there is killed on exit too.
#
# WALSHIP_TESTENV_NO_MINIO=1 / WALSHIP_TESTENV_NO_AZURITE=1 /
# WALSHIP_TESTENV_NO_GCS=1 / WALSHIP_TESTENV_NO_TOXIPROXY=1 skip a server.
set -euo pipefail

MINIO_VERSION=v0.0.0-20260212201848-7aac2a2c5b7c
AZURITE_VERSION=3.35.0
TOXIPROXY_VERSION=v2.5.0
FAKE_GCS_VERSION=v1.56.1

if [ "$#" -eq 0 ]; then
	echo "usage: $0 CMD [ARGS...]   (runs CMD with MinIO, Azurite, fake-gcs-server and Toxiproxy started)" >&2
	exit 2
fi

tools=${WALSHIP_TOOLS:-$HOME/.cache/walship}
mkdir -p "$tools/bin"
log() { echo "testenv: $*" >&2; }

install_minio() {
	if [ -x "$tools/bin/minio" ]; then return; fi
	log "installing MinIO $MINIO_VERSION into $tools/bin (first time: a few minutes)"
	local tmp
	tmp=$(mktemp -d)
	# Outside any module, so the project's go.mod plays no part.
	(cd "$tmp" && GOBIN="$tools/bin" GOFLAGS=-mod=mod GO111MODULE=on \
		go install "github.com/minio/minio@$MINIO_VERSION")
	rm -rf "$tmp"
}

install_azurite() {
	if [ -x "$tools/azurite/node_modules/.bin/azurite-blob" ]; then return; fi
	log "installing Azurite $AZURITE_VERSION into $tools/azurite"
	mkdir -p "$tools/azurite"
	npm install --prefix "$tools/azurite" --no-audit --no-fund --loglevel=error "azurite@$AZURITE_VERSION" >&2
}

install_toxiproxy() {
	if [ -x "$tools/bin/server" ]; then return; fi
	log "installing Toxiproxy $TOXIPROXY_VERSION into $tools/bin/server"
	local tmp
	tmp=$(mktemp -d)
	(cd "$tmp" && GOBIN="$tools/bin" GOFLAGS=-mod=mod GO111MODULE=on \
		go install "github.com/Shopify/toxiproxy/v2/cmd/server@$TOXIPROXY_VERSION")
	rm -rf "$tmp"
}

install_fake_gcs() {
	if [ -x "$tools/bin/fake-gcs-server" ]; then return; fi
	log "installing fake-gcs-server $FAKE_GCS_VERSION into $tools/bin"
	local tmp
	tmp=$(mktemp -d)
	(cd "$tmp" && GOBIN="$tools/bin" GOFLAGS=-mod=mod GO111MODULE=on \
		go install "github.com/fsouza/fake-gcs-server@$FAKE_GCS_VERSION")
	rm -rf "$tmp"
}

free_port() {
	if command -v python3 >/dev/null 2>&1; then
		python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
		return
	fi
	local p
	while :; do
		p=$((20000 + RANDOM % 30000))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "$p"
			return
		fi
	done
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

work=$(mktemp -d "${TMPDIR:-/tmp}/walship-testenv.XXXXXX")
export WALSHIP_TEST_PIDFILE="$work/pids"
: >"$WALSHIP_TEST_PIDFILE"
pids=()

cleanup() {
	local rc=$?
	set +e
	local p all=("${pids[@]}")
	while read -r p; do [ -n "$p" ] && all+=("$p"); done <"$WALSHIP_TEST_PIDFILE"
	for p in "${all[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${all[@]}"; do
		for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$p" 2>/dev/null
	done
	rm -rf "$work"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

start_minio() {
	install_minio
	local port cport
	port=$(free_port)
	cport=$(free_port)
	while [ "$cport" = "$port" ]; do cport=$(free_port); done
	export WALSHIP_TEST_MINIO_BIN="$tools/bin/minio"
	export WALSHIP_TEST_MINIO_DATA="$work/minio"
	export WALSHIP_TEST_MINIO_PORT="$port"
	export WALSHIP_TEST_MINIO_CONSOLE_PORT="$cport"
	export WALSHIP_TEST_MINIO_ENDPOINT="127.0.0.1:$port"
	export WALSHIP_TEST_MINIO_ACCESS_KEY="walship-test"
	export WALSHIP_TEST_MINIO_SECRET_KEY="walship-test-secret-$RANDOM$RANDOM"
	mkdir -p "$WALSHIP_TEST_MINIO_DATA"
	export WALSHIP_TEST_MINIO_CMD="exec env MINIO_ROOT_USER='$WALSHIP_TEST_MINIO_ACCESS_KEY' MINIO_ROOT_PASSWORD='$WALSHIP_TEST_MINIO_SECRET_KEY' MINIO_BROWSER=off '$WALSHIP_TEST_MINIO_BIN' server '$WALSHIP_TEST_MINIO_DATA' --address 127.0.0.1:$port --console-address 127.0.0.1:$cport --quiet"
	MINIO_ROOT_USER="$WALSHIP_TEST_MINIO_ACCESS_KEY" MINIO_ROOT_PASSWORD="$WALSHIP_TEST_MINIO_SECRET_KEY" MINIO_BROWSER=off \
		"$WALSHIP_TEST_MINIO_BIN" server "$WALSHIP_TEST_MINIO_DATA" --address "127.0.0.1:$port" \
		--console-address "127.0.0.1:$cport" --quiet >"$work/minio.log" 2>&1 &
	local pid=$!
	pids+=("$pid")
	export WALSHIP_TEST_MINIO_PID="$pid"
	for _ in $(seq 300); do
		if curl -sf "http://127.0.0.1:$port/minio/health/ready" >/dev/null 2>&1; then
			log "MinIO ready at 127.0.0.1:$port (pid $pid)"
			export MINIO_ACCESS_KEY="$WALSHIP_TEST_MINIO_ACCESS_KEY" MINIO_SECRET_KEY="$WALSHIP_TEST_MINIO_SECRET_KEY"
			export AWS_ACCESS_KEY_ID="$WALSHIP_TEST_MINIO_ACCESS_KEY" AWS_SECRET_ACCESS_KEY="$WALSHIP_TEST_MINIO_SECRET_KEY"
			export AWS_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
			return
		fi
		if ! kill -0 "$pid" 2>/dev/null; then break; fi
		sleep 0.1
	done
	log "MinIO did not become ready; its log:"
	cat "$work/minio.log" >&2
	exit 1
}

start_azurite() {
	install_azurite
	local port
	port=$(free_port)
	export WALSHIP_TEST_AZURITE_BIN="$tools/azurite/node_modules/.bin/azurite-blob"
	export WALSHIP_TEST_AZURITE_DATA="$work/azurite"
	export WALSHIP_TEST_AZURITE_PORT="$port"
	mkdir -p "$WALSHIP_TEST_AZURITE_DATA"
	export WALSHIP_TEST_AZURITE_CMD="exec '$WALSHIP_TEST_AZURITE_BIN' --blobHost 127.0.0.1 --blobPort $port --location '$WALSHIP_TEST_AZURITE_DATA' --skipApiVersionCheck --disableTelemetry --silent"
	"$WALSHIP_TEST_AZURITE_BIN" --blobHost 127.0.0.1 --blobPort "$port" --location "$WALSHIP_TEST_AZURITE_DATA" \
		--skipApiVersionCheck --disableTelemetry --silent >"$work/azurite.log" 2>&1 &
	local pid=$!
	pids+=("$pid")
	export WALSHIP_TEST_AZURITE_PID="$pid"
	for _ in $(seq 300); do
		if port_open "$port"; then
			local account=devstoreaccount1
			local key='Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=='
			export WALSHIP_TEST_AZURITE_ACCOUNT="$account" WALSHIP_TEST_AZURITE_KEY="$key"
			export WALSHIP_TEST_AZURITE_ENDPOINT="http://127.0.0.1:$port/$account"
			export WALSHIP_TEST_AZURITE_CONNSTR="DefaultEndpointsProtocol=http;AccountName=$account;AccountKey=$key;BlobEndpoint=$WALSHIP_TEST_AZURITE_ENDPOINT;"
			export AZURE_STORAGE_CONNECTION_STRING="$WALSHIP_TEST_AZURITE_CONNSTR"
			log "Azurite ready at 127.0.0.1:$port (pid $pid)"
			return
		fi
		if ! kill -0 "$pid" 2>/dev/null; then break; fi
		sleep 0.1
	done
	log "Azurite did not start; its log:"
	cat "$work/azurite.log" >&2
	exit 1
}

start_gcs() {
	install_fake_gcs
	local port
	port=$(free_port)
	export WALSHIP_TEST_GCS_BIN="$tools/bin/fake-gcs-server"
	export WALSHIP_TEST_GCS_DATA="$work/gcs"
	export WALSHIP_TEST_GCS_PORT="$port"
	mkdir -p "$WALSHIP_TEST_GCS_DATA"
	# -public-host: the client reads objects the XML way (GET /BUCKET/OBJECT
	# on the endpoint's host), which the server routes only for its public host.
	local args=(-scheme http -host 127.0.0.1 -port "$port" -public-host "127.0.0.1:$port"
		-external-url "http://127.0.0.1:$port" -backend filesystem -filesystem-root "$WALSHIP_TEST_GCS_DATA"
		-log-level error)
	WALSHIP_TEST_GCS_CMD="exec $(printf '%q ' "$WALSHIP_TEST_GCS_BIN" "${args[@]}")"
	export WALSHIP_TEST_GCS_CMD
	"$WALSHIP_TEST_GCS_BIN" "${args[@]}" >"$work/gcs.log" 2>&1 &
	local pid=$!
	pids+=("$pid")
	export WALSHIP_TEST_GCS_PID="$pid"
	for _ in $(seq 300); do
		if curl -sf "http://127.0.0.1:$port/_internal/healthcheck" >/dev/null 2>&1; then
			export WALSHIP_TEST_GCS_ENDPOINT="http://127.0.0.1:$port"
			log "fake-gcs-server ready at 127.0.0.1:$port (pid $pid)"
			return
		fi
		if ! kill -0 "$pid" 2>/dev/null; then break; fi
		sleep 0.1
	done
	log "fake-gcs-server did not become ready; its log:"
	cat "$work/gcs.log" >&2
	exit 1
}

start_toxiproxy() {
	install_toxiproxy
	local port
	port=$(free_port)
	"$tools/bin/server" -host 127.0.0.1 -port "$port" >"$work/toxiproxy.log" 2>&1 &
	local pid=$!
	pids+=("$pid")
	for _ in $(seq 300); do
		if curl -sf "http://127.0.0.1:$port/version" >/dev/null 2>&1; then
			export WALSHIP_TEST_TOXIPROXY="127.0.0.1:$port" WALSHIP_TEST_TOXIPROXY_PID="$pid"
			log "Toxiproxy ready at 127.0.0.1:$port (pid $pid)"
			return
		fi
		if ! kill -0 "$pid" 2>/dev/null; then break; fi
		sleep 0.1
	done
	log "Toxiproxy did not become ready; its log:"
	cat "$work/toxiproxy.log" >&2
	exit 1
}

if [ "${WALSHIP_TESTENV_NO_MINIO:-}" != 1 ]; then start_minio; fi
if [ "${WALSHIP_TESTENV_NO_AZURITE:-}" != 1 ]; then start_azurite; fi
if [ "${WALSHIP_TESTENV_NO_GCS:-}" != 1 ]; then start_gcs; fi
if [ "${WALSHIP_TESTENV_NO_TOXIPROXY:-}" != 1 ]; then start_toxiproxy; fi

set +e
"$@"
rc=$?
set -e
exit "$rc"
