#!/usr/bin/env bash
# Go ydoc vs Yjs on the automerge-paper trace, side by side.
#   scripts/bench-ydoc.sh [ROUNDS]        (default 5)
# Alternates one Go round (go test ./ydoc -bench ...) and one Node round
# (bench/ydoc/bench.mjs) ROUNDS times, so both see the same machine noise, then
# prints medians, Go/Yjs ratios and targets (bench/ydoc/table.mjs).
# Env: BENCH_OUT (directory for the raw outputs; default a new temp dir), GO_BENCH (regexp,
# default the ydoc trace benchmarks), GO_BENCHTIME (passed as -benchtime if set).
set -uo pipefail

ROUNDS="${1:-5}"
case "$ROUNDS" in ''|*[!0-9]*) echo "usage: $0 [ROUNDS]" >&2; exit 2 ;; esac
cd "$(dirname "$0")/.." || exit 2

OUT="${BENCH_OUT:-$(mktemp -d "${TMPDIR:-/tmp}/bench-ydoc.XXXXXX")}"
mkdir -p "$OUT"
GO_BENCH="${GO_BENCH:-Trace|Load|Encode|ReadText|Merge|Heap}"

if [ ! -d node_modules/yjs ]; then
  echo "node_modules missing: run npm ci" >&2; exit 2
fi

# Build the Go test binary once up front so that compile time is not part of round 1.
if command -v go >/dev/null 2>&1; then
  go test -c -o "$OUT/ydoc.test" ./ydoc >"$OUT/go-build.txt" 2>&1 || echo "note: Go benchmarks do not build (see $OUT/go-build.txt); Go column will be missing" >&2
else
  echo "note: go not found; Go column will be missing" >&2
fi

go_files=(); node_files=()
for r in $(seq 1 "$ROUNDS"); do
  echo "round $r/$ROUNDS: go" >&2
  if [ -x "$OUT/ydoc.test" ]; then
    # same as: go test ./ydoc -run '^$' -bench "$GO_BENCH" -benchmem -count 1
    # (prebuilt binary, run from the package directory like go test does)
    bench_flags=(-test.run '^$' -test.bench "$GO_BENCH" -test.benchmem -test.count 1)
    [ -n "${GO_BENCHTIME:-}" ] && bench_flags+=(-test.benchtime "$GO_BENCHTIME")
    (cd ydoc && "$OUT/ydoc.test" "${bench_flags[@]}") >"$OUT/go-$r.txt" 2>&1 || echo "note: Go round $r failed (see $OUT/go-$r.txt)" >&2
  else
    : >"$OUT/go-$r.txt"
  fi
  go_files+=("$OUT/go-$r.txt")
  echo "round $r/$ROUNDS: node" >&2
  node --expose-gc bench/ydoc/bench.mjs >"$OUT/node-$r.txt" 2>"$OUT/node-$r.err" || echo "note: Node round $r failed (see $OUT/node-$r.err)" >&2
  node_files+=("$OUT/node-$r.txt")
done

echo "raw outputs: $OUT" >&2
node bench/ydoc/table.mjs --go "${go_files[@]}" --yjs "${node_files[@]}"
