#!/usr/bin/env bash
# Runs every Fuzz target in the module for a short time each (default 10s). A crash fails
# the run and leaves the crashing input under the package's testdata/fuzz for a regression
# test.
set -euo pipefail
fuzztime="${1:-10s}"
status=0
while IFS= read -r file; do
  pkg="./$(dirname "$file")"
  for target in $(grep -oE '^func (Fuzz[A-Za-z0-9_]+)' "$file" | awk '{print $2}'); do
    echo "fuzz: $pkg $target ($fuzztime)"
    if ! go test -run='^$' -fuzz="^${target}\$" -fuzztime="$fuzztime" "$pkg"; then
      status=1
    fi
  done
done < <(grep -rl --include='*_test.go' -E '^func Fuzz' pkg services tools 2>/dev/null | sort)
exit $status
