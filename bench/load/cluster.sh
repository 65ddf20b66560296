#!/usr/bin/env bash
# Cluster load (docs/cluster.md): 100 rooms x 5 clients on 1, 2 and 3
# collabd --cluster nodes sharing one PostgreSQL and one NATS bus; each
# room's clients are spread over the nodes in turn (client k of a room on
# node k mod N), so with 2 or 3 nodes most deliveries cross the bus.
#
#   bench/load/cluster.sh    about 1.5 minutes with the defaults
#
# Writes bench/load/results/cluster-<N>node.json and prints one Markdown
# table (collabbench summarize).
#
# Env:
#   COLLABD_TEST_DATABASE_URL  database the nodes use, in a schema of their
#                              own per run (default the local test database)
#   BENCH_BUS      NATS URL (default nats://127.0.0.1:4222)
#   BENCH_NODES    node counts to run (default "1 2 3")
#   BENCH_DURATION measured period (default 20s)
#   BENCH_RATE     document updates per second per room (default 20)
#   BENCH_PORT     first node's port (default 18951)
set -euo pipefail
cd "$(dirname "$0")/../.."
export PGOPTIONS="--client-min-messages=warning"
DB="${COLLABD_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test?sslmode=disable}"
BUS="${BENCH_BUS:-nats://127.0.0.1:4222}"
NODES="${BENCH_NODES:-1 2 3}"
DURATION="${BENCH_DURATION:-20s}"
RATE="${BENCH_RATE:-20}"
PORT="${BENCH_PORT:-18951}"
OUT=bench/load/results
mkdir -p "$OUT"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/collabd-cluster-bench.XXXXXX")"
PIDS=()
SCHEMA=""
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  [ -n "$SCHEMA" ] && psql -q "$DB" -c "DROP SCHEMA IF EXISTS $SCHEMA CASCADE" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT
go build -o "$WORK/collabd" ./cmd/collabd
go build -o "$WORK/collabbench" ./cmd/collabbench
sep='?'; [[ "$DB" == *\?* ]] && sep='&'
files=()
for n in $NODES; do
  SCHEMA="collabd_bench_$$_$n"
  psql -q "$DB" -c "CREATE SCHEMA $SCHEMA" >/dev/null
  urls=""
  PIDS=()
  for ((i = 0; i < n; i++)); do
    port=$((PORT + i))
    COLLABD_MAX_CONNS_PER_IP=0 COLLABD_RATE_MESSAGES=0 COLLABD_RATE_BYTES=0 \
      "$WORK/collabd" --addr "127.0.0.1:$port" --cluster --bus-url "$BUS" --cluster-name "bench$$n$n" \
      --node-id "n$i" --database-url "${DB}${sep}search_path=$SCHEMA" --log-level warn \
      2>"$WORK/node$n-$i.log" &
    PIDS+=($!)
    urls+="${urls:+,}ws://127.0.0.1:$port"
  done
  for ((i = 0; i < n; i++)); do
    for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$((PORT + i))/healthz" >/dev/null && break; sleep 0.1; done
  done
  echo "== $n node(s): $urls" >&2
  "$WORK/collabbench" -label "cluster, $n node(s), 100 rooms x 5 clients" -url "$urls" \
    -rooms 100 -clients 500 -rate "$RATE" -duration "$DURATION" -json "$OUT/cluster-${n}node.json" >&2 || true
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  PIDS=()
  psql -q "$DB" -c "DROP SCHEMA IF EXISTS $SCHEMA CASCADE" >/dev/null
  SCHEMA=""
  files+=("$OUT/cluster-${n}node.json")
done
"$WORK/collabbench" summarize "${files[@]}"
