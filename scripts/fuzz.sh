#!/usr/bin/env bash
# Long fuzzing: every fuzz target for FUZZTIME (default 3m) each.
# Usage: scripts/fuzz.sh [FUZZTIME] [package pattern]
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${1:-3m}
for pkg in $(go list "${2:-./...}"); do
  dir=$(go list -f '{{.Dir}}' "$pkg")
  for target in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //' | sort -u); do
    echo "== $pkg $target ($fuzztime)"
    go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" "$pkg"
  done
done
