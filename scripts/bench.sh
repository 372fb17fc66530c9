#!/usr/bin/env bash
# Runs one benchmark: scripts/bench/NAME.sh. Each measures Caracal against
# its reference tool in the same run, appends its section to
# docs/benchmarks.md and ends with one line of JSON.
set -euo pipefail
name="$1"
root="$(cd "$(dirname "$0")/.." && pwd)"
script="$root/scripts/bench/$name.sh"
if [ ! -x "$script" ]; then
  echo "bench-$name: no benchmark yet ($script is missing)" >&2
  exit 1
fi
exec "$script"
