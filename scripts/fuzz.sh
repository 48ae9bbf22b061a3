#!/usr/bin/env bash
# fuzz.sh [TIME]: run every Go fuzz target in the repository for TIME each
# (default 5s; any -fuzztime value, e.g. 60s or 10000x; a count is safer in CI:
# a duration that ends while a slow input runs is reported as a failure). Go fuzzes one target
# per invocation, so each `func FuzzX(f *testing.F)` found in a _test.go file
# gets its own `go test -run=^$ -fuzz=^FuzzX$ -fuzztime=TIME ./pkg`. A
# failing input is written to pkg/testdata/fuzz/FuzzX/ by go test: commit it
# with the fix. Prints one line per target and a summary; exits non-zero if
# any target fails or none is found.
set -uo pipefail
cd "$(dirname "$0")/.."

time="${1:-5s}"

# "dir name" for every fuzz target, in a stable order.
targets=()
while IFS= read -r file; do
	dir=$(dirname "$file")
	while IFS= read -r name; do
		targets+=("$dir $name")
	done < <(sed -nE 's/^func (Fuzz[A-Za-z0-9_]*)\(f \*testing\.F\).*/\1/p' "$file")
done < <(grep -rlE --include='*_test.go' --exclude-dir=testdata --exclude-dir=vendor --exclude-dir='.?*' \
	'^func Fuzz[A-Za-z0-9_]*\(f \*testing\.F\)' . | sort)
if [ "${#targets[@]}" -eq 0 ]; then
	echo "fuzz.sh: no fuzz targets found" >&2
	exit 1
fi

failed=()
start=$SECONDS
for t in "${targets[@]}"; do
	dir="${t% *}"
	name="${t#* }"
	t0=$SECONDS
	if out=$(go test -run='^$' -fuzz="^${name}\$" -fuzztime="$time" "$dir" 2>&1); then
		echo "ok   $dir $name ($((SECONDS - t0))s)"
	else
		echo "FAIL $dir $name ($((SECONDS - t0))s)"
		echo "$out" | tail -n 40
		failed+=("$dir $name")
	fi
done

echo "fuzz: ${#targets[@]} targets, ${#failed[@]} failed, ${time} each, $((SECONDS - start))s total"
if [ "${#failed[@]}" -gt 0 ]; then
	printf 'failed: %s\n' "${failed[@]}" >&2
	exit 1
fi
