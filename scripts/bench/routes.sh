#!/usr/bin/env bash
# make bench-routes: install, dump and delete COUNT IPv4 /32 routes on a veth
# in a fresh namespace, with Caracal's Netlink module and RouteProgrammer, a
# minimal C libmnl batch program (the practical limit) and `ip -batch`, all in
# the same run. Publishes "## bench-routes" to docs/benchmarks.md; the last
# line of stdout is one line of JSON.
#
# Run it under the global build lock, as every Swift command here:
#   flock /tmp/caracal-swift.lock make bench-routes
# (the script builds, so it must not take the lock itself).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$bench_root"

COUNT="${ROUTES_COUNT:-100000}"
ROUNDS="${ROUTES_ROUNDS:-5}"
PROTO=201
ns="crc-bench-routes-$$"
work="$(mktemp -d /tmp/caracal-bench-routes.XXXXXX)"
cleanup() {
  ip netns delete "$ns" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "bench-routes: building (release)" >&2
swift build -c release --product bench-routes >&2
bin="$(swift build -c release --show-bin-path)/bench-routes"
cc -O2 -Wall -o "$work/mnl_batch" Sources/bench-routes/reference/mnl_batch.c -lmnl

ip netns add "$ns"
ip -n "$ns" link set lo up
ip -n "$ns" link add bench0 type veth peer name bench1
ip -n "$ns" link set bench0 up
ip -n "$ns" link set bench1 up
ifindex="$(ip netns exec "$ns" cat /sys/class/net/bench0/ifindex)"

python3 - "$COUNT" "$work" "$PROTO" <<'PY'
import sys
count, work, proto = int(sys.argv[1]), sys.argv[2], sys.argv[3]
def addr(i):
    v = 0x0C000000 + i
    return f"{v>>24}.{(v>>16)&255}.{(v>>8)&255}.{v&255}"
with open(f"{work}/add.batch", "w") as f:
    for i in range(count): f.write(f"route add {addr(i)}/32 dev bench0 proto {proto}\n")
with open(f"{work}/del.batch", "w") as f:
    for i in range(count): f.write(f"route del {addr(i)}/32 dev bench0 proto {proto}\n")
PY

now() { date +%s.%N; }
elapsed() { awk -v s="$1" -v e="$2" 'BEGIN { printf "%.6f", e - s }'; }
results="$work/results.txt"
: > "$results"
run_c() {
  read -r t _ < <(ip netns exec "$ns" "$work/mnl_batch" add "$COUNT" "$ifindex" "$PROTO"); echo "c_add $t" >> "$results"
  read -r t n < <(ip netns exec "$ns" "$work/mnl_batch" dump "$COUNT" "$ifindex" "$PROTO"); echo "c_dump $t" >> "$results"
  [ "$n" = "$COUNT" ] || { echo "C dump saw $n routes" >&2; exit 1; }
  read -r t _ < <(ip netns exec "$ns" "$work/mnl_batch" del "$COUNT" "$ifindex" "$PROTO"); echo "c_delete $t" >> "$results"
}
run_swift() {
  json="$(ip netns exec "$ns" "$bin" --count "$COUNT" --ifindex "$ifindex" --protocol "$PROTO")"
  echo "swift $json" >> "$results"
}
run_ip() {
  s="$(now)"; ip -n "$ns" -batch "$work/add.batch"; e="$(now)"; echo "ip_add $(elapsed "$s" "$e")" >> "$results"
  s="$(now)"; n="$(ip -n "$ns" -4 route show proto "$PROTO" | wc -l)"; e="$(now)"; echo "ip_dump $(elapsed "$s" "$e")" >> "$results"
  [ "$n" = "$COUNT" ] || { echo "ip route show saw $n routes" >&2; exit 1; }
  s="$(now)"; ip -n "$ns" -batch "$work/del.batch"; e="$(now)"; echo "ip_delete $(elapsed "$s" "$e")" >> "$results"
}
# The machine is shared and its load drifts: alternate who goes first.
for round in $(seq 1 "$ROUNDS"); do
  echo "bench-routes: round $round/$ROUNDS" >&2
  if [ $((round % 2)) -eq 1 ]; then run_c; run_swift; else run_swift; run_c; fi
  run_ip
done

python3 - "$results" "$COUNT" "$ROUNDS" "$work/section.md" > "$work/result.json" <<'PY'
import json, statistics, sys, platform, datetime
path, count, rounds, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
samples = {}
for line in open(path):
    key, rest = line.split(" ", 1)
    if key == "swift":
        for k, v in json.loads(rest).items(): samples.setdefault("swift_" + k, []).append(float(v))
    else:
        samples.setdefault(key, []).append(float(rest))
m = {k: statistics.median(v) for k, v in samples.items()}
rate = lambda s: count / s
fig = {
    "count": count, "rounds": rounds,
    "swift_add_per_s": round(rate(m["swift_add"])), "c_add_per_s": round(rate(m["c_add"])), "ip_add_per_s": round(rate(m["ip_add"])),
    "swift_delete_per_s": round(rate(m["swift_delete"])), "c_delete_per_s": round(rate(m["c_delete"])), "ip_delete_per_s": round(rate(m["ip_delete"])),
    "swift_dump_ms": round(m["swift_dump"] * 1000, 1), "swift_dump_undecoded_ms": round(m["swift_dump_undecoded"] * 1000, 1), "c_dump_ms": round(m["c_dump"] * 1000, 1), "ip_dump_ms": round(m["ip_dump"] * 1000, 1),
    "swift_add_ack_each_per_s": round(rate(m["swift_add_ack_each"])), "swift_delete_ack_each_per_s": round(rate(m["swift_delete_ack_each"])),
    "programmer_add_per_s": round(rate(m["swift_programmer_add"])), "programmer_delete_per_s": round(rate(m["swift_programmer_delete"])),
    "resync_noop_ms": round(m["swift_resync_noop"] * 1000, 1), "resync_noop_writes": int(max(samples["swift_resync_noop_writes"])),
}
fig["add_vs_c"] = round(m["c_add"] / m["swift_add"], 3)
fig["add_vs_ip"] = round(m["ip_add"] / m["swift_add"], 2)
fig["delete_vs_c"] = round(m["c_delete"] / m["swift_delete"], 3)
fig["delete_vs_ip"] = round(m["ip_delete"] / m["swift_delete"], 2)
fig["dump_time_vs_c"] = round(m["swift_dump"] / m["c_dump"], 3)
goals = {
    "add ≥ 0.9× C": fig["add_vs_c"] >= 0.9, "add ≥ 3× ip -batch": fig["add_vs_ip"] >= 3,
    "delete ≥ 0.9× C": fig["delete_vs_c"] >= 0.9, "delete ≥ 3× ip -batch": fig["delete_vs_ip"] >= 3,
    "dump ≤ 1.5× C time": fig["dump_time_vs_c"] <= 1.5,
    "no-change resync writes nothing, < 1 s": fig["resync_noop_writes"] == 0 and fig["resync_noop_ms"] < 1000,
}
fig["goals_met"] = all(goals.values())
with open(out, "w") as f:
    f.write("## bench-routes\n\n")
    f.write(f"`flock /tmp/caracal-swift.lock make bench-routes` (scripts/bench/routes.sh): {count} IPv4 /32 routes on a veth in a fresh namespace, "
            f"median of {rounds} rounds (C and Caracal alternate going first), {datetime.date.today()} on {platform.node()} ({platform.machine()}, kernel {platform.release()}). "
            "Caracal = `Netlink` module batches (ACK on the last message of each send, every failure still attributed); "
            "C = Sources/bench-routes/reference/mnl_batch.c (libmnl, 1024 messages per send, same ACK scheme); ip = `ip -batch`.\n\n")
    f.write("| operation | Caracal | C libmnl | ip -batch | Caracal vs C | Caracal vs ip |\n|---|---|---|---|---|---|\n")
    f.write(f"| add | {fig['swift_add_per_s']:,}/s | {fig['c_add_per_s']:,}/s | {fig['ip_add_per_s']:,}/s | {fig['add_vs_c']}× | {fig['add_vs_ip']}× |\n")
    f.write(f"| delete | {fig['swift_delete_per_s']:,}/s | {fig['c_delete_per_s']:,}/s | {fig['ip_delete_per_s']:,}/s | {fig['delete_vs_c']}× | {fig['delete_vs_ip']}× |\n")
    f.write(f"| dump (filtered on protocol, decoded) | {fig['swift_dump_ms']} ms | {fig['c_dump_ms']} ms | {fig['ip_dump_ms']} ms (`ip route show`) | {fig['dump_time_vs_c']}× the time | |\n\n")
    f.write(f"- Dump without decoding into `Route` values (messages counted, like the C program): {fig['swift_dump_undecoded_ms']} ms; user-space encoding of {count} add messages: {round(m['swift_encode_only'] * 1000, 1)} ms.\n")
    f.write(f"- ACK on every message: add {fig['swift_add_ack_each_per_s']:,}/s, delete {fig['swift_delete_ack_each_per_s']:,}/s.\n")
    f.write(f"- `RouteProgrammer` (validate, diff, batch, bookkeeping): full set onto an empty table {fig['programmer_add_per_s']:,}/s, removal of all {fig['programmer_delete_per_s']:,}/s.\n")
    f.write(f"- No-change resync ({count} desired, {count} present): {fig['resync_noop_ms']} ms, {fig['resync_noop_writes']} messages written.\n")
    f.write("- Goals: " + ", ".join(f"{k}: {'met' if v else 'MISSED'}" for k, v in goals.items()) + ".\n")
print(json.dumps(fig, ensure_ascii=False))
PY
bench_publish routes "$work/section.md"
cat "$work/section.md" >&2
cat "$work/result.json"
