#!/usr/bin/env bash
# bench-datastore: allocations and releases per second of Caracal's IPAM over
# the embedded SQLite datastore (WAL, one IMMEDIATE transaction per
# operation, as the plugin does), against host-local's file-per-IP + flock
# scheme (reference/hostlocal_store.c) driven the same way, same run, same
# file system. Usage: scripts/bench/datastore.sh [COUNT]
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$bench_root"
count="${1:-3000}"
# Same flags as bench-cni, so both share one build cache.
flags=(-c release --product bench-datastore --static-swift-stdlib --scratch-path .build-bench -Xswiftc -Xclang-linker -Xswiftc -no-pie)
swift build "${flags[@]}" 2>&1 | { grep -E "error|complete" || true; } | tail -1
bin="$(swift build "${flags[@]}" --show-bin-path)/bench-datastore"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cc -O2 -o "$work/hostlocal_store" Sources/bench-datastore/reference/hostlocal_store.c
runs=3
for r in $(seq 1 $runs); do
  mkdir -p "$work/hl$r"
  "$work/hostlocal_store" "$work/hl$r" "$count" > "$work/ref$r.json"
  "$bin" "$work/caracal$r.db" "$count" > "$work/car$r.json"
done
python3 - "$work" "$runs" "$count" "$work/section.md" <<'PY'
import json, statistics, sys
work, runs, count, md = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
def med(prefix, key): return int(statistics.median(json.load(open(f"{work}/{prefix}{r}.json"))[key] for r in range(1, runs + 1)))
car = {k: med("car", k) for k in ("alloc_per_s", "release_per_s")}
ref = {k: med("ref", k) for k in ("alloc_per_s", "release_per_s")}
ratio = {k: round(car[k] / ref[k], 3) for k in car}
lines = ["## bench-datastore", "",
         f"{count} allocations then {count} releases, one durable operation each (median of {runs} runs, same file system). Caracal: IPAM over SQLite (WAL, synchronous=NORMAL, one BEGIN IMMEDIATE transaction per operation, writing block, handle, usage counter and history). Reference: host-local's on-disk scheme (flock on the directory, one file per IP, last_reserved_ip, release by scanning for the container ID), re-implemented in C.", "",
         "| store | allocations/s | releases/s |", "|---|---|---|",
         f"| caracal (SQLite) | {car['alloc_per_s']} | {car['release_per_s']} |",
         f"| host-local scheme (files + flock) | {ref['alloc_per_s']} | {ref['release_per_s']} |", "",
         f"Ratio caracal / reference (higher is better): allocations {ratio['alloc_per_s']}, releases {ratio['release_per_s']}.", "",
         "Command: `make bench-datastore` (scripts/bench/datastore.sh)."]
open(md, "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
print(json.dumps({"bench": "datastore", "count": count, "caracal": car, "reference": ref, "ratio": ratio}, separators=(",", ":")))
PY
bench_publish datastore "$work/section.md"
