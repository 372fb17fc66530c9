#!/usr/bin/env bash
# bench-bgp-codec: Caracal's typed UPDATE decoder and encoder against a
# minimal C walker over the same bytes (the practical limit), in one run.
# Streams: 1M IPv4 /32 and 100k IPv6 /128 in UPDATEs of up to 4096 octets
# with shared attributes (Sources/bench-bgp-codec/main.swift). Rates are the
# best of REPEATS runs. Wrap in the build lock on shared machines:
#   flock /tmp/caracal-swift.lock make bench-bgp-codec
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
source "$root/scripts/bench/lib.sh"
cd "$root"
repeats="${REPEATS:-15}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

swift build -c release --product bench-bgp-codec >"$work/build.log" 2>&1 || { cat "$work/build.log"; exit 1; }
bin="$(swift build -c release --product bench-bgp-codec --show-bin-path)/bench-bgp-codec"
cc -O2 -o "$work/walker" Sources/bench-bgp-codec/reference/walker.c

"$bin" generate "$work"
swift_json="$("$bin" run "$work" "$repeats")"
walk4="$("$work/walker" "$work/ipv4.bin" "$repeats")"
walk6="$("$work/walker" "$work/ipv6.bin" "$repeats")"

result="$(python3 - "$swift_json" "$walk4" "$walk6" "$work/section.md" "$repeats" <<'PY'
import json, sys, platform, datetime
s, w4, w6 = json.loads(sys.argv[1]), json.loads(sys.argv[2]), json.loads(sys.argv[3])
out, repeats = sys.argv[4], sys.argv[5]
res = {"bench": "bgp-codec"}
rows = []
for fam, w in (("ipv4", w4), ("ipv6", w6)):
    n = s[f"{fam}_prefixes"]
    assert w["prefixes"] == n, f"walker saw {w['prefixes']} {fam} prefixes, expected {n}"
    walker_rate = n / w["seconds"]
    dec, enc = s[f"{fam}_decode_prefixes_per_s"], s[f"{fam}_encode_prefixes_per_s"]
    res.update({f"{fam}_prefixes": n, f"{fam}_decode_per_s": dec, f"{fam}_encode_per_s": enc,
                f"{fam}_walker_per_s": int(walker_rate), f"{fam}_decode_vs_walker": round(dec / walker_rate, 3),
                f"{fam}_encode_vs_walker": round(enc / walker_rate, 3)})
    rows.append(f"| {fam} | {n:,} | {s[f'{fam}_bytes']:,} | {dec/1e6:.1f} M/s | {enc/1e6:.1f} M/s | {walker_rate/1e6:.1f} M/s | {dec/walker_rate:.1%} |")
res["goal_decode_vs_walker"] = 0.25
res["goal_met"] = all(res[f"{f}_decode_vs_walker"] >= 0.25 for f in ("ipv4", "ipv6"))
with open(out, "w") as f:
    f.write("## bench-bgp-codec\n\n")
    f.write(f"Command: `flock /tmp/caracal-swift.lock make bench-bgp-codec` (REPEATS={repeats}, best run each), "
            f"{datetime.date.today()}, {platform.machine()}. Typed decode (Caracal `BGPMessage.decode` into "
            "`UpdateMessage` with typed prefixes and attributes) and encode (packing + encoding) versus a C loop "
            "(`Sources/bench-bgp-codec/reference/walker.c`, cc -O2) that only walks the same NLRI bytes. "
            "Goal: decode at least 25% of the walker's rate.\n\n")
    f.write("| family | prefixes | stream bytes | decode | encode | C walker | decode / walker |\n|---|---|---|---|---|---|---|\n")
    f.write("\n".join(rows) + "\n")
print(json.dumps(res))
PY
)"
bench_publish bgp-codec "$work/section.md"
cat "$work/section.md"
echo "$result"
