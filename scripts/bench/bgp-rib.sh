#!/usr/bin/env bash
# bench-bgp-rib: the BGP RIB in process (module BGPRIB): ingest rate and
# resident memory per path, and a route reflector's fan-out, against BIRD's
# table memory for the same number of /32 routes, measured in the same run
# (BIRD 2, `protocol static` in a namespace of its own, `birdc show memory`).
# Usage: scripts/bench/bgp-rib.sh   (root; wrap in the swift lock)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$bench_root"
swift build -c release --product bench-bgp-rib 2>&1 | { grep -E "error|complete" || true; } | tail -1 >&2
bin="$(swift build -c release --show-bin-path)/bench-bgp-rib"

work="$(mktemp -d)"
ns="crcbench-rib-$$"
cleanup() { [ -f "$work/bird.pid" ] && kill "$(cat "$work/bird.pid")" 2>/dev/null || true; ip netns delete "$ns" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

# BIRD: 100000 static /32 blackhole routes in its table.
ip netns add "$ns"
ip -n "$ns" link set lo up
python3 - "$work/bird.conf" <<'PY'
import sys
with open(sys.argv[1], "w") as f:
    f.write("router id 10.0.0.1;\nprotocol device {}\nprotocol static {\n  ipv4;\n")
    for i in range(100000):
        n = 0x0A800000 + i
        f.write(f"  route {n >> 24}.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}/32 blackhole;\n")
    f.write("}\n")
PY
ip netns exec "$ns" bird -c "$work/bird.conf" -s "$work/bird.ctl" -P "$work/bird.pid"
for _ in $(seq 1 100); do
  birdc -s "$work/bird.ctl" show route count 2>/dev/null | grep -q "100000 of 100000 routes" && break
  sleep 0.2
done
birdc -s "$work/bird.ctl" show memory > "$work/bird-memory.txt"

runs=()
for args in "ingest 1000000 1" "ingest 100000 10" "fanout 1000 1" "fanout 1000 10" "fanout 1000 100" \
            "fanout 5000 1" "fanout 5000 10" "fanout 5000 100"; do
  runs+=("$("$bin" $args)")
done
printf '%s\n' "${runs[@]}" > "$work/runs.jsonl"

python3 - "$work/runs.jsonl" "$work/bird-memory.txt" "$work/section.md" <<'PY'
import json, re, sys
runs = [json.loads(l) for l in open(sys.argv[1])]
mem = open(sys.argv[2]).read()
def kb(label):
    m = re.search(label + r":\s+([\d.]+)\s+(B|kB|MB|GB)", mem)
    if not m: return None
    return float(m.group(1)) * {"B": 1 / 1024, "kB": 1, "MB": 1024, "GB": 1024 * 1024}[m.group(2)]
tables = kb("Routing tables")
bird_per_route = round(tables * 1024 / 100000) if tables else None
ingest = [r for r in runs if r["mode"] == "ingest"]
fanout = [r for r in runs if r["mode"] == "fanout"]
lines = ["## bench-bgp-rib", "",
         "The BGP RIB in process (module `BGPRIB`; no sockets): each mode in its own process, memory as the growth of its resident set. "
         "Reference, same run: BIRD 2.0.12 holding 100,000 static /32 routes (`birdc show memory`, Routing tables). "
         "The issue's goal is at most BIRD's memory per route (BIRD over BGP, measured earlier: 92 B per route). "
         "Fan-out: each update group's UPDATEs are computed and encoded once and written to every member (UPDATEs delivered = encoded × members).", "",
         "| ingest | paths | prefixes | paths/s | bytes per path |", "|---|---|---|---|---|"]
for r in ingest:
    lines.append(f"| {r['peers']} iBGP peer(s) × {r['paths'] // r['peers']:,} /32s | {r['paths']:,} | {r['prefixes']:,} | {r['paths_per_s']:,} | {r['bytes_per_path']} |")
lines += ["", f"BIRD, same run: {bird_per_route} B per route (static /32s, table memory only).", "",
          "| reflector fan-out | update groups | prefixes | ingest | Adj-RIB-Outs + encoding | UPDATEs encoded | bytes encoded | UPDATEs delivered | RSS growth |",
          "|---|---|---|---|---|---|---|---|---|"]
for r in fanout:
    lines.append(f"| {r['clients']:,} clients, 2 /32s each | {r['groups']} | {r['prefixes']:,} | {r['ingest_s']} s | {r['out_and_encode_s']} s | {r['updates']:,} | {r['update_bytes']:,} | {r['updates_delivered']:,} | {r['rss_growth_mb']} MB |")
worst = max(r["bytes_per_path"] for r in ingest)
lines += ["", f"Goal: bytes per path ≤ BIRD's: {'met' if bird_per_route and worst <= bird_per_route else 'MISSED'} ({worst} B against {bird_per_route} B).",
          "", "Command: `make bench-bgp-rib` (scripts/bench/bgp-rib.sh)."]
open(sys.argv[3], "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
print(json.dumps({"bench": "bgp-rib", "runs": runs, "bird_bytes_per_route": bird_per_route,
                  "goal_bytes_per_path_met": bool(bird_per_route and worst <= bird_per_route)}, separators=(",", ":")))
PY
bench_publish bgp-rib "$work/section.md"
