#!/usr/bin/env bash
# bench-bfd: SESSIONS single-hop BFD sessions (default 1000) at
# INTERVAL_MS × MULTIPLIER (100 ms × 3) between Caracal's BFD (the agent's
# BFDManager, run by the bench-bfd program) and BIRD 2's protocol bfd with
# the same sessions, over one veth between two namespaces (Caracal: one
# local address per session; BIRD: one address, a neighbor per session).
# Once every session is Up, both are measured over the same DURATION
# seconds (default 120): CPU time per session (user + system) and every
# Up → Down (a false Down: nothing fails during the run).
# Usage: scripts/bench/bfd.sh   (root; wrap in the swift lock).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$bench_root"
swift build -c release --product bench-bfd 2>&1 | { grep -E "error|complete" || true; } | tail -1 >&2
bin="$(swift build -c release --show-bin-path)/bench-bfd"
sessions="${SESSIONS:-1000}" duration="${DURATION:-120}" interval="${INTERVAL_MS:-100}" mult="${MULTIPLIER:-3}"

work="$(mktemp -d)"
pfx="crcbench-bfd-$$"
A="$pfx-a" B="$pfx-b"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  sleep 0.3
  for ns in "$A" "$B"; do ip netns delete "$ns" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

for ns in "$A" "$B"; do ip netns add "$ns"; ip -n "$ns" link set lo up; done
ip -n "$A" link add a0 type veth peer name b0 netns "$B"
ip -n "$A" addr add 10.80.0.1/16 dev a0; ip -n "$B" addr add 10.80.0.2/16 dev b0
ip -n "$A" link set a0 up; ip -n "$B" link set b0 up
# One /32 per Caracal session; neighbours permanent on both sides (the
# kernel's neighbour table is shared by all namespaces and holds 1024).
python3 -c "print('\n'.join(f'10.80.{1 + i // 250}.{1 + i % 250}' for i in range($sessions)))" > "$work/locals"
mac_a="$(ip -n "$A" -o link show a0 | sed -E 's/.*link\/ether ([0-9a-f:]+).*/\1/')"
mac_b="$(ip -n "$B" -o link show b0 | sed -E 's/.*link\/ether ([0-9a-f:]+).*/\1/')"
sed "s|.*|address add &/32 dev a0|" "$work/locals" | ip -n "$A" -batch -
sed "s|.*|neigh replace & lladdr $mac_a dev b0 nud permanent|" "$work/locals" | ip -n "$B" -batch -
ip -n "$A" neigh replace 10.80.0.2 lladdr "$mac_b" dev a0 nud permanent

{
  echo "router id 10.80.0.2;"
  echo "protocol device {}"
  echo "protocol bfd {"
  echo "  interface \"b0\" { min rx interval $interval ms; min tx interval $interval ms; idle tx interval 1 s; multiplier $mult; };"
  sed "s|.*|  neighbor & dev \"b0\" local 10.80.0.2;|" "$work/locals"
  echo "}"
} > "$work/bird.conf"
bird -p -c "$work/bird.conf"
ip netns exec "$B" bird -f -c "$work/bird.conf" -s "$work/bird.ctl" -P "$work/bird.pid" &
pids+=($!)
sleep 1
bird_pid="$(cat "$work/bird.pid")"

ip netns exec "$A" "$bin" 10.80.0.2 "$work/locals" "$duration" "$interval" "$interval" "$mult" >"$work/caracal.json" 2>"$work/caracal.err" &
caracal_pid=$!
pids+=($caracal_pid)
for _ in $(seq 1 1300); do grep -q measuring "$work/caracal.err" && break; sleep 0.1; done
grep measuring "$work/caracal.err" >&2 || { echo "bench-bfd: Caracal's sessions never came up" >&2; cat "$work/caracal.err" >&2; exit 1; }
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz="$(getconf CLK_TCK)"
b0="$(ticks "$bird_pid")"; t0="$(date +%s.%N)"
bird_up_start="$(birdc -s "$work/bird.ctl" show bfd sessions | grep -c ' Up ' || true)"
# The window ends when Caracal prints its figures (it waits 2 s before
# shutting its sessions down).
for _ in $(seq 1 $(( (duration + 60) * 20 ))); do [ -s "$work/caracal.json" ] && break; sleep 0.05; done
b1="$(ticks "$bird_pid")"; t1="$(date +%s.%N)"
bird_up_end="$(birdc -s "$work/bird.ctl" show bfd sessions | grep -c ' Up ' || true)"
wait "$caracal_pid"
cat "$work/caracal.json" >&2

python3 - "$work/caracal.json" "$sessions" "$interval" "$mult" "$duration" "$b0" "$b1" "$t0" "$t1" "$hz" "$bird_up_start" "$bird_up_end" "$work/section.md" <<'PY'
import json, sys, datetime
c = json.load(open(sys.argv[1]))
n, interval, mult, duration = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
b0, b1, t0, t1, hz = float(sys.argv[6]), float(sys.argv[7]), float(sys.argv[8]), float(sys.argv[9]), float(sys.argv[10])
bird_up_start, bird_up_end = int(sys.argv[11]), int(sys.argv[12])
bird_cpu = (b1 - b0) / hz
bird_pct = bird_cpu / (t1 - t0) / n * 100
car_pct = c["cpu_pct_per_session"]
ratio = car_pct / bird_pct if bird_pct > 0 else None
result = {"bench": "bfd", "sessions": n, "interval_ms": interval, "multiplier": mult, "duration_s": duration,
          "caracal_cpu_s": c["cpu_s"], "bird_cpu_s": round(bird_cpu, 3),
          "caracal_cpu_pct_per_session": round(car_pct, 4), "bird_cpu_pct_per_session": round(bird_pct, 4),
          "cpu_ratio": round(ratio, 2) if ratio else None, "caracal_up_after_s": c["up_after_s"],
          "false_downs": c["false_downs"], "false_downs_by_diagnostic": c["false_downs_by_diagnostic"],
          "caracal_up_at_end": c["up_at_end"],
          "bird_up_at_start": bird_up_start, "bird_up_at_end": bird_up_end,
          "packets_in_per_s": c["packets_in_per_s"], "packets_out_per_s": c["packets_out_per_s"], "dropped": c["dropped"]}
with open(sys.argv[13], "w") as f:
    f.write(f"""## bench-bfd

{n} single-hop BFD sessions at {interval} ms × {mult} between Caracal (`BFDManager`, as in the agent, run by `bench-bfd`) and BIRD 2.0.12's `protocol bfd` with the same {n} sessions, over one veth between two namespaces; both measured over the same {duration:.0f} s once every session was Up ({datetime.date.today()}, `make bench-bfd`; `SESSIONS`, `DURATION`, `INTERVAL_MS`, `MULTIPLIER` change it).

| | Caracal | BIRD |
|---|---|---|
| CPU time in the window | {c['cpu_s']:.2f} s | {bird_cpu:.2f} s |
| CPU per session (% of one core) | {car_pct:.4f} % | {bird_pct:.4f} % |
| sessions Up at the end | {c['up_at_end']} / {n} | {bird_up_end} / {n} |

False Downs during the window: {c['false_downs']} (any Up → Down of a Caracal session, including one BIRD signalled){(': ' + ', '.join(f'{v} {k}' for k, v in c['false_downs_by_diagnostic'].items()) + ', at ' + ', '.join(f'{t:g}' for t in sorted(set(c['false_downs_at_s']))[:12]) + ' s into the window') if c['false_downs'] else ''}. Caracal's sessions were all Up {c['up_after_s']} s after start; {c['packets_in_per_s']} packets/s in, {c['packets_out_per_s']} out. CPU ratio Caracal/BIRD: {result['cpu_ratio']}×.
""")
print(json.dumps(result, sort_keys=True))
PY
bench_publish bfd "$work/section.md"
