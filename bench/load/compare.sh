#!/usr/bin/env bash
# Side-by-side load runs of collabd builds (see bench/load/README.md).
#
#   bench/load/compare.sh [-n ROUNDS] [-d DATA_PARENT] REV [REV...] -- COLLABBENCH_ARGS...
#
# Builds collabd at each REV (a git revision, "worktree" for the working
# tree as it is, bin:PATH for a collabd built already, "ref" for
# y-websocket's own server, the reference of bench/load/run.sh, or
# "hocuspocus" for Hocuspocus with its SQLite extension, a durable peer
# (bench/peers, installed on first use; collabbench speaks its dialect of
# the protocol with -protocol hocuspocus); REV@FLAGS
# runs that build with more collabd flags, comma-separated, e.g.
# worktree@--admin-addr=127.0.0.1:0,--auth-secret-file=/tmp/s), then runs
# collabbench against each build in turn, ROUNDS times (default 3): build A,
# build B, build A, ... so that the drift of a shared, noisy machine hits
# every build alike. Each collabd gets a new --data-dir under DATA_PARENT
# (default $TMPDIR or /tmp; /dev/shm takes the disk out). Prints every
# run's server CPU per delivered frame, fan-out latency and the other
# processes' load, then each build's medians. Builds are labelled N:REV, so
# a revision may be given twice: an A/A run shows the machine's noise.
#
# Example (the 100-room scenario, shorter):
#   bench/load/compare.sh HEAD~1 HEAD -- -rooms 100 -clients 500 -rate 20 \
#     -warmup 3s -duration 15s -drain 10s
#
# Env: BENCH_PORT (default 18931), BENCH_NICE (default -10 when root),
# BENCH_TOKEN (a token every client sends, for builds run with auth).
set -uo pipefail
# Every load client connects from 127.0.0.1, and one writer sends all of a
# room's updates (200 a second in the one-room scenario, more in capacity
# runs): lift the per-address connection limit and raise the per-connection
# message rate out of reach (the limiter still runs, so its cost is in the
# figures). Environment variables, which builds older than the limits
# ignore.
export COLLABD_MAX_CONNS_PER_IP=0 COLLABD_RATE_MESSAGES=1000000 COLLABD_RATE_BYTES=1000000000
cd "$(dirname "$0")/../.." || exit 2

ROUNDS=3
PARENT="${TMPDIR:-/tmp}"
while getopts "n:d:" opt; do
  case "$opt" in
    n) ROUNDS="$OPTARG" ;;
    d) PARENT="$OPTARG" ;;
    *) exit 2 ;;
  esac
done
shift $((OPTIND - 1))
REVS=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do
  REVS+=("$1")
  shift
done
[ $# -gt 0 ] && shift
if [ "${#REVS[@]}" -eq 0 ] || [ $# -eq 0 ]; then
  sed -n '2,19p' "$0" >&2
  exit 2
fi
PORT="${BENCH_PORT:-18931}"
if [ -z "${BENCH_NICE:-}" ]; then
  if [ "$(id -u)" = 0 ]; then BENCH_NICE=-10; else BENCH_NICE=0; fi
fi
hard="$(ulimit -Hn)"
if [ "$hard" = unlimited ] || [ "$hard" -ge 20000 ]; then ulimit -n 20000; else ulimit -n "$hard"; fi

WORK="$(mktemp -d "${TMPDIR:-/tmp}/collabd-compare.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
go build -o "$WORK/collabbench" ./cmd/collabbench || exit 1
FLAGS=()
for i in "${!REVS[@]}"; do
  rev="${REVS[$i]%%@*}"
  FLAGS[$i]=""
  [ "$rev" != "${REVS[$i]}" ] && FLAGS[$i]="${REVS[$i]#*@}"
  FLAGS[$i]="${FLAGS[$i]//,/ }"
  echo "building collabd $rev" >&2
  if [ "$rev" = ref ]; then
    [ -f node_modules/y-websocket-ref/bin/server.js ] || { echo "ref: run npm ci first" >&2; exit 1; }
  elif [ "$rev" = hocuspocus ]; then
    # Its SQLite binding compiles from source here (about a minute, once).
    [ -d bench/peers/node_modules/@hocuspocus/server ] ||
      npm ci --prefix bench/peers --no-audit --no-fund >&2 || exit 1
  elif [ "${rev#bin:}" != "$rev" ]; then
    cp "${rev#bin:}" "$WORK/collabd-$i" || exit 1
  elif [ "$rev" = worktree ]; then
    go build -o "$WORK/collabd-$i" ./cmd/collabd || exit 1
  else
    mkdir -p "$WORK/src-$i"
    git archive "$rev" | tar -x -C "$WORK/src-$i" || exit 1
    (cd "$WORK/src-$i" && go build -o "$WORK/collabd-$i" ./cmd/collabd) || exit 1
  fi
done

# field FILE NAME: the first number after "NAME": in FILE.
field() { grep -o "\"$2\": [0-9.e+-]*" "$1" | head -1 | awk '{print $2}'; }

# With -capacity among the arguments each run is a capacity search
# (collabbench -capacity): the table then also shows the capacity found, in
# updates/s per room, and the other columns are the figures of its highest
# passing step.
printf '%-5s %-14s %9s %9s %9s %9s %11s %10s\n' round build "µs/frame" "p50 ms" "p99 ms" "other" undelivered "capacity"
for ((r = 1; r <= ROUNDS; r++)); do
  for i in "${!REVS[@]}"; do
    data="$(mktemp -d "$PARENT/collabd-data.XXXXXX")"
    out="$WORK/run-$i-$r.json"
    server="$WORK/collabd-$i -addr 127.0.0.1:$PORT -data-dir $data ${FLAGS[$i]}"
    proto=y-websocket
    case "${REVS[$i]}" in
      ref) server="env HOST=127.0.0.1 PORT=$PORT node $PWD/node_modules/y-websocket-ref/bin/server.js" ;;
      hocuspocus)
        server="env HOST=127.0.0.1 PORT=$PORT DATA_DIR=$data node $PWD/bench/peers/hocuspocus.mjs"
        proto=hocuspocus
        ;;
    esac
    nice -n "$BENCH_NICE" "$WORK/collabbench" \
      -server-cmd "$server" \
      -url "ws://127.0.0.1:$PORT" -protocol "$proto" -json "$out" ${BENCH_TOKEN:+-token "$BENCH_TOKEN"} "$@" >"$WORK/run-$i-$r.txt" 2>&1
    status=$?
    rm -rf "$data"
    if [ ! -s "$out" ]; then
      echo "collabbench failed (exit $status):" >&2
      tail -20 "$WORK/run-$i-$r.txt" >&2
      exit 1
    fi
    cap="$(field "$out" capacity_updates_per_sec_per_room)"
    printf '%-5s %-14s %9.2f %9.2f %9.2f %9.2f %11s %10s\n' "$r" "$((i + 1)):${REVS[$i]}" \
      "$(field "$out" cpu_us_per_delivered_message)" "$(field "$out" p50_ms)" \
      "$(field "$out" p99_ms)" "$(field "$out" other_cores)" "$(field "$out" undelivered)" "${cap:--}" |
      tee -a "$WORK/table"
    sleep 2 # let the port and the machine settle
  done
done

# median of the numbers on stdin
median() { sort -g | awk '{v[NR] = $1} END {if (NR == 0) print "-"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
echo
printf '%-20s %9s %9s %9s %10s\n' "median of $ROUNDS" "µs/frame" "p50 ms" "p99 ms" "capacity"
for i in "${!REVS[@]}"; do
  rows="$(awk -v b="$((i + 1)):${REVS[$i]}" '$2 == b' "$WORK/table")"
  printf '%-20s %9.2f %9.2f %9.2f %10s\n' "$((i + 1)):${REVS[$i]}" \
    "$(echo "$rows" | awk '{print $3}' | median)" \
    "$(echo "$rows" | awk '{print $4}' | median)" \
    "$(echo "$rows" | awk '{print $5}' | median)" \
    "$(echo "$rows" | awk '$8 != "-" {print $8}' | median)"
done
