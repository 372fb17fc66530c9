#!/usr/bin/env bash
# Builds one libFuzzer target from Fuzz/<Target> and runs it for a bounded
# time over its checked-in corpus. Usage: fuzz.sh TARGET SECONDS
# (FUZZ_EXTRA_ARGS adds libFuzzer flags, e.g. -rss_limit_mb=1 to see a failure.)
# The fuzz build uses its own scratch path so -sanitize=fuzzer never touches
# the normal build (SwiftPM links executables with --defsym main=..., which
# is why each target defines <Target>_main itself under -DFUZZING).
set -euo pipefail
target="$1"; seconds="${2:-60}"
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
log="$(mktemp)"
if ! swift build --product "$target" --scratch-path .build-fuzz \
  -Xswiftc -sanitize=fuzzer,address -Xswiftc -DFUZZING >"$log" 2>&1; then
  grep -E "error" "$log" | head -20; rm -f "$log"
  echo "fuzz $target: BUILD FAILED"; exit 1
fi
grep -E "Build complete" "$log" || true
rm -f "$log"
bin="$(swift build --product "$target" --scratch-path .build-fuzz -Xswiftc -sanitize=fuzzer,address -Xswiftc -DFUZZING --show-bin-path)/$target"
corpus="Fuzz/$target/corpus"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$root/fuzz-artifacts"
# New inputs go to a scratch dir; the checked-in corpus is read-only input.
# The fuzzer's own exit status decides; a pipeline with "|| true" would
# hide a crash (PIPESTATUS is reset by the "true").
status=0
SWIFT_BACKTRACE=enable=no "$bin" "$work" "$corpus" \
  -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
  -artifact_prefix="$root/fuzz-artifacts/$target-" -print_final_stats=1 ${FUZZ_EXTRA_ARGS:-} >"$work.log" 2>&1 || status=$?
grep -E "^(#[0-9]+ +DONE|Done|stat::number_of_executed_units|==[0-9]+==ERROR|SUMMARY|artifact_prefix|Test unit written|Fatal error|.*error: )" "$work.log" || true
rm -f "$work.log"
if [ "$status" -ne 0 ]; then echo "fuzz $target: FAILED (status $status)"; exit 1; fi
echo "fuzz $target: clean for ${seconds}s"
