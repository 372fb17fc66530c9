#!/usr/bin/env bash
# bench-bgp: caracal agent as a BGP receiver and sender over real sessions,
# against BIRD 2 in the same run.
# - Ingest: a BIRD feeder (protocol static, N /32s) sends its table to a
#   caracal agent and to a BIRD receiver, one after the other: time from
#   enabling the session until the receiver holds all N, and the receiver's
#   memory growth per route. Kernel programming is off on both sides, so
#   the RIBs are compared.
# - Advertise: a caracal agent originating 100k prefixes sends them to the
#   BIRD receiver, against the feeder BIRD sending the same number (BIRD →
#   BIRD) to the same receiver.
# Usage: scripts/bench/bgp.sh   (root; wrap in the swift lock). ROUNDS=2.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$bench_root"
for product in caracal bench-bgp-clients; do
  swift build -c release --product "$product" 2>&1 | { grep -E "error|complete" || true; } | tail -1 >&2
done
caracal="$(swift build -c release --show-bin-path)/caracal"
generator="$(swift build -c release --show-bin-path)/bench-bgp-clients"
rounds="${ROUNDS:-2}"

work="$(mktemp -d)"
pfx="crcbench-bgp-$$"
F="$pfx-f" C="$pfx-c" R="$pfx-r" G="$pfx-g"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  sleep 0.3
  for ns in "$F" "$C" "$R" "$G"; do ip netns delete "$ns" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

for ns in "$F" "$C" "$R" "$G"; do ip netns add "$ns"; ip -n "$ns" link set lo up; done
link() {  # NS_A IF_A ADDR_A NS_B IF_B ADDR_B
  ip -n "$1" link add "$2" type veth peer name "$5" netns "$4"
  ip -n "$1" addr add "$3/24" dev "$2"; ip -n "$4" addr add "$6/24" dev "$5"
  ip -n "$1" link set "$2" up; ip -n "$4" link set "$5" up
}
link "$F" fc 10.70.0.1 "$C" cf 10.70.0.2
link "$F" fr 10.71.0.1 "$R" rf 10.71.0.2
link "$C" cr 10.72.0.1 "$R" rc 10.72.0.2
# The client generator's sources (10.200.0.0/16 on its lo) sit behind one
# gateway on each reflector's side (the shared ARP table holds 1024).
link "$C" cg 10.73.0.1 "$G" gc 10.73.0.2
link "$R" rg 10.74.0.1 "$G" gr 10.74.0.2
ip -n "$C" route add 10.200.0.0/16 via 10.73.0.2
ip -n "$R" route add 10.200.0.0/16 via 10.74.0.2
python3 -c 'print("\n".join(f"address add 10.200.{i >> 8}.{i & 255}/32 dev lo" for i in range(1, 2049)))' | ip -n "$G" -batch -

rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
now() { date +%s.%N; }

# The BIRD receiver: takes everything, exports nothing, programs nothing.
cat > "$work/rx.conf" <<'EOF'
router id 10.71.0.2;
protocol device {}
protocol bgp feed { local 10.71.0.2 as 64513; neighbor 10.71.0.1 as 65100; passive on; hold time 90;
  ipv4 { import all; export none; }; }
protocol bgp fromcar { local 10.72.0.2 as 64513; neighbor 10.72.0.1 as 64512; passive on; hold time 90; disabled;
  ipv4 { import all; export none; }; }
EOF
ip netns exec "$R" bird -f -c "$work/rx.conf" -s "$work/rx.ctl" -P "$work/rx.pid" & pids+=($!)

# Caracal as a receiver of the feeder.
cat > "$work/in.yaml" <<EOF
apiVersion: caracal.io/v1alpha1
kind: AgentConfiguration
metadata: {name: bench-in}
spec:
  bgp:
    asNumber: 64512
    routerID: 10.70.0.2
    listen: {addresses: [10.70.0.2]}
    gracefulRestart: {enabled: false}
    policies:
      - {name: all, default: accept}
    peers:
      - {name: feeder, address: 10.70.0.1, remoteAS: 65100, passive: true, holdTime: 90, importPolicy: all, exportPolicy: all}
  kernel: {programRoutes: false}
  control: {socket: $work/in.sock}
EOF
ip netns exec "$C" "$caracal" agent --config "$work/in.yaml" --log-level warning 2> "$work/in.log" & cin=$!; pids+=($cin)

# Caracal as a sender of 100k prefixes to the BIRD receiver.
python3 - "$work/out.yaml" "$work/out.sock" <<'PY'
import sys
with open(sys.argv[1], "w") as f:
    f.write("apiVersion: caracal.io/v1alpha1\nkind: AgentConfiguration\nmetadata: {name: bench-out}\nspec:\n  bgp:\n")
    f.write("    asNumber: 64512\n    routerID: 10.72.0.1\n    listen: {addresses: [10.72.0.1]}\n    gracefulRestart: {enabled: false}\n")
    f.write("    policies:\n      - {name: all, default: accept}\n")
    f.write("    peers:\n      - {name: rx, address: 10.72.0.2, remoteAS: 64513, connectRetryTime: 1, holdTime: 90, importPolicy: all, exportPolicy: all}\n")
    f.write("    originate:\n")
    for i in range(100000):
        n = 0x0B000000 + i
        f.write(f"      - {n >> 24}.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}/32\n")
    f.write(f"  kernel: {{programRoutes: false}}\n  control: {{socket: {sys.argv[2]}}}\n")
PY

wait_for() {  # SECONDS COMMAND...: polls every 50 ms until COMMAND succeeds
  local deadline=$(( $(date +%s) + $1 )); shift
  until "$@"; do
    [ "$(date +%s)" -lt "$deadline" ] || { echo "timed out: $*" >&2; return 1; }
    sleep 0.05
  done
}
caracal_prefixes() { "$caracal" status --json --socket "$work/in.sock" 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["result"]["bgp"]["prefixes"])' 2>/dev/null || echo 0; }
rx_count() {  # PROTOCOL: routes the BIRD receiver holds from it
  birdc -s "$work/rx.ctl" show route protocol "$1" count 2>/dev/null | awk '/routes for/ {print $1; f=1; exit} END {if (!f) print 0}'
}
feeder_established() { birdc -s "$work/feed.ctl" show protocols "$1" 2>/dev/null | grep -q Established; }
rx_established() { birdc -s "$work/rx.ctl" show protocols "$1" 2>/dev/null | grep -q Established; }
caracal_has() { [ "$(caracal_prefixes)" -ge "$1" ]; }
caracal_empty() { [ "$(caracal_prefixes)" -eq 0 ]; }
rx_has() { [ "$(rx_count "$1")" = "$2" ]; }
rx_mem_kb() { birdc -s "$work/rx.ctl" show memory | awk '/^Routing tables:/ {v=$3; u=$4; if (u=="kB") print v; else if (u=="MB") print v*1024; else if (u=="GB") print v*1048576; else print v/1024}'; }

wait_for 30 test -S "$work/in.sock"
wait_for 30 test -S "$work/rx.ctl"

results="$work/results.jsonl"
for n in 100000 1000000; do
  # The feeder, with N static /32s, its sessions disabled until measured.
  python3 - "$work/feed.conf" "$n" <<'PY'
import sys
n = int(sys.argv[2])
with open(sys.argv[1], "w") as f:
    f.write("router id 10.70.0.1;\nprotocol device {}\nprotocol static { ipv4;\n")
    for i in range(n):
        a = 0x0A800000 + i
        f.write(f"  route {a >> 24}.{a >> 16 & 255}.{a >> 8 & 255}.{a & 255}/32 blackhole;\n")
    f.write("}\n")
    for name, local, peer, asn in (("tocar", "10.70.0.1", "10.70.0.2", 64512), ("torx", "10.71.0.1", "10.71.0.2", 64513)):
        f.write(f"protocol bgp {name} {{ local {local} as 65100; neighbor {peer} as {asn}; hold time 90; connect delay time 1; connect retry time 1; disabled;\n")
        f.write("  ipv4 { import none; export where source = RTS_STATIC; }; }\n")
PY
  ip netns exec "$F" bird -f -c "$work/feed.conf" -s "$work/feed.ctl" -P "$work/feed.pid" & feeder=$!; pids+=($feeder)
  feeder_full() { birdc -s "$work/feed.ctl" show route count 2>/dev/null | grep -q "$n of $n routes"; }
  wait_for 120 feeder_full
  for round in $(seq 1 "$rounds"); do
    for who in caracal bird; do
      if [ "$who" = caracal ]; then proto=tocar; pid=$cin; else proto=torx; pid=$(cat "$work/rx.pid"); fi
      before=$(rss_kb "$pid"); tables_before=$(rx_mem_kb)
      birdc -s "$work/feed.ctl" enable "$proto" > /dev/null
      # Timed from the session's Established (as the feeder sees it): the
      # connection set-up is not the receiver's work.
      wait_for 60 feeder_established "$proto"
      t0=$(now)
      if [ "$who" = caracal ]; then wait_for 300 caracal_has "$n"; else wait_for 300 rx_has feed "$n"; fi
      t1=$(now)
      after=$(rss_kb "$pid"); tables_after=$(rx_mem_kb)
      python3 - "$results" <<PY
import json
json.dump({"mode": "ingest", "receiver": "$who", "routes": $n, "round": $round, "seconds": round($t1 - $t0, 3),
           "rss_growth_kb": $after - $before, "bird_tables_kb": ($tables_after - $tables_before) if "$who" == "bird" else None},
          open("$results", "a")); open("$results", "a").write("\n")
PY
      birdc -s "$work/feed.ctl" disable "$proto" > /dev/null
      # Wait until the receiver has dropped the routes again.
      if [ "$who" = caracal ]; then wait_for 300 caracal_empty; else wait_for 300 rx_has feed 0; fi
    done
  done
  kill "$feeder"; wait "$feeder" 2>/dev/null || true
done

# Advertise: Caracal → BIRD, 100k (the BIRD → BIRD reference is the
# receiver's 100k ingest above, from the same kind of session).
ip netns exec "$C" "$caracal" agent --config "$work/out.yaml" --log-level warning 2> "$work/out.log" & cout=$!; pids+=($cout)
wait_for 120 test -S "$work/out.sock"
for round in $(seq 1 "$rounds"); do
  birdc -s "$work/rx.ctl" enable fromcar > /dev/null
  wait_for 60 rx_established fromcar
  t0=$(now)
  wait_for 300 rx_has fromcar 100000
  t1=$(now)
  echo "{\"mode\":\"advertise\",\"sender\":\"caracal\",\"routes\":100000,\"round\":$round,\"seconds\":$(python3 -c "print(round($t1 - $t0, 3))")}" >> "$results"
  birdc -s "$work/rx.ctl" disable fromcar > /dev/null
  sleep 1
done

# Reflector scale: N clients (the generator) against a caracal reflector
# and a BIRD reflector, one at a time, fresh for each N.
kill "$cin" "$cout" "$(cat "$work/rx.pid")" 2>/dev/null || true
sleep 1
for n in 200 1000 2000; do
  for who in caracal bird; do
    if [ "$who" = caracal ]; then
      cat > "$work/rr.yaml" <<EOF
apiVersion: caracal.io/v1alpha1
kind: AgentConfiguration
metadata: {name: bench-rr}
spec:
  bgp:
    asNumber: 64512
    routerID: 10.73.0.1
    listen: {addresses: [10.73.0.1]}
    routeReflector: {clusterID: 10.73.0.1}
    gracefulRestart: {enabled: false}
    peerRanges:
      - {name: c, prefix: 10.200.0.0/16, remoteAS: internal, routeReflectorClient: true, holdTime: 240}
  kernel: {programRoutes: false}
  control: {socket: $work/rr.sock}
EOF
      ip netns exec "$C" "$caracal" agent --config "$work/rr.yaml" --log-level warning 2> "$work/rr.log" & rr=$!; pids+=($rr)
      wait_for 30 test -S "$work/rr.sock"; target=10.73.0.1
    else
      cat > "$work/rr.conf" <<'EOF'
router id 10.74.0.1;
protocol device {}
protocol static { ipv4; route 10.200.0.0/16 via 10.74.0.2; }
protocol bgp clients { local 10.74.0.1 as 64512; neighbor range 10.200.0.0/16 internal; dynamic name "c"; rr client; rr cluster id 10.74.0.1;
  hold time 240; ipv4 { import all; export where source = RTS_BGP; }; }
EOF
      ip netns exec "$R" bird -f -c "$work/rr.conf" -s "$work/rr.ctl" -P "$work/rr.pid" & rr=$!; pids+=($rr)
      wait_for 30 test -S "$work/rr.ctl"; target=10.74.0.1
    fi
    sleep 0.5
    before=$(rss_kb "$rr")
    out=$(ip netns exec "$G" "$generator" "$target" "$n" 10.200.0.1 64512 8 2> "$work/gen.log" || true)
    after=$(rss_kb "$rr")
    echo "$out" | python3 -c "import json,sys; r=json.loads(sys.stdin.read() or '{}'); r.update({'mode':'reflector','reflector':'$who','rss_kb':$after,'rss_growth_kb':$after-$before}); print(json.dumps(r))" >> "$results"
    kill "$rr"; wait "$rr" 2>/dev/null || true
    rm -f "$work/rr.sock" "$work/rr.ctl"
    sleep 1
  done
done

python3 - "$results" "$work/section.md" <<'PY'
import json, statistics, sys
runs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
def first(mode, who, n, key):
    v = [r[key] for r in runs if r["mode"] == mode and r.get("receiver") == who and r["routes"] == n and r.get("round") == 1]
    return v[0] if v else None
def med(mode, who, n, key="seconds"):
    v = [r[key] for r in runs if r["mode"] == mode and r.get("receiver", r.get("sender")) == who and r["routes"] == n and r.get(key) is not None]
    return statistics.median(v) if v else None
lines = ["## bench-bgp", "",
         "caracal agent over real BGP sessions against BIRD 2.0.12 in the same run (scripts/bench/bgp.sh): a BIRD feeder "
         "(`protocol static`, N /32s) sends its table to a caracal agent and to a BIRD receiver in turn; time from the session's "
         "Established until the receiver holds all N (both polled every 50 ms), and the receiver's RSS growth. Kernel programming "
         "off on both. Advertise: a caracal agent originating 100k /32s sends them to the BIRD receiver, against BIRD → BIRD. "
         "Times: medians of the rounds; memory: the first round's growth (later rounds reuse the freed memory).", "",
         "| routes | Caracal ingest | BIRD ingest | time ratio | Caracal RSS growth / route | BIRD RSS growth / route | BIRD tables / route | memory ratio (RSS) |",
         "|---|---|---|---|---|---|---|---|"]
summary = {}
for n in (100000, 1000000):
    c, b = med("ingest", "caracal", n), med("ingest", "bird", n)
    # Memory: the first round's growth (later rounds reuse what it freed).
    cm, bm = first("ingest", "caracal", n, "rss_growth_kb"), first("ingest", "bird", n, "rss_growth_kb")
    bt = med("ingest", "bird", n, "bird_tables_kb")
    if c is None or b is None: continue
    cpr, bpr = cm * 1024 / n, bm * 1024 / n
    summary[n] = {"caracal_s": c, "bird_s": b, "time_ratio": round(c / b, 2), "caracal_bytes_per_route": round(cpr),
                  "bird_bytes_per_route": round(bpr), "memory_ratio": round(cpr / bpr, 2) if bpr > 0 else None}
    lines.append(f"| {n:,} | {c:.2f} s | {b:.2f} s | {c / b:.2f}× | {cpr:.0f} B | {bpr:.0f} B | {bt * 1024 / n if bt else 0:.0f} B | "
                 f"{(cpr / bpr) if bpr > 0 else float('nan'):.2f}× |")
refl = [r for r in runs if r["mode"] == "reflector"]
lines += ["", "| reflector clients | Caracal convergence | BIRD convergence | time ratio | Caracal RSS | BIRD RSS | memory ratio | prefixes per UPDATE (Caracal / BIRD) |",
          "|---|---|---|---|---|---|---|---|"]
reflector = {}
for n in (200, 1000, 2000):
    c = next((r for r in refl if r["reflector"] == "caracal" and r.get("clients") == n), None)
    b = next((r for r in refl if r["reflector"] == "bird" and r.get("clients") == n), None)
    if not c or not b: continue
    cs, bs = c.get("convergence_s", -1), b.get("convergence_s", -1)
    ok = c.get("ok") and b.get("ok")
    reflector[n] = {"caracal_s": cs, "bird_s": bs, "time_ratio": round(cs / bs, 2) if ok and bs > 0 else None,
                    "caracal_rss_kb": c["rss_kb"], "bird_rss_kb": b["rss_kb"], "memory_ratio": round(c["rss_kb"] / b["rss_kb"], 2),
                    "caracal_ok": c.get("ok"), "bird_ok": b.get("ok")}
    lines.append(f"| {n:,} | {cs:.2f} s{'' if c.get('ok') else ' (incomplete)'} | {bs:.2f} s{'' if b.get('ok') else ' (incomplete)'} | "
                 f"{(cs / bs) if ok and bs > 0 else float('nan'):.2f}× | {c['rss_kb'] / 1024:.1f} MB | {b['rss_kb'] / 1024:.1f} MB | "
                 f"{c['rss_kb'] / b['rss_kb']:.2f}× | {c.get('prefixes_per_update', 0)} / {b.get('prefixes_per_update', 0)} |")
lines += ["", "Reflector scale: `bench-bgp-clients` (Sources/bench-bgp-clients, one event loop) opens N iBGP client sessions, 8 "
          "connects in flight, from N addresses behind one gateway; each announces 2 /32s; convergence is from the first "
          "Established until every client holds the other clients' 2N − 2 prefixes. Reflector RSS after convergence. "
          "Goal: ≤ 0.5× BIRD's convergence time at 1000 and 2000 clients, at ≤ 1.0× its memory."]
adv = med("advertise", "caracal", 100000)
ref = med("ingest", "bird", 100000)
lines += ["", f"Advertise 100,000: Caracal → BIRD {adv:.2f} s, BIRD → BIRD {ref:.2f} s: {adv / ref:.2f}×.", "",
          "Goals (issue \"BGP speaker\"): ingest time ≤ 1.0× BIRD and memory per route ≤ 1.0× BIRD.", "",
          "Command: `make bench-bgp`."]
open(sys.argv[2], "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
print(json.dumps({"bench": "bgp", "ingest": {str(k): v for k, v in summary.items()}, "reflector": {str(k): v for k, v in reflector.items()},
                  "advertise_100k": {"caracal_s": adv, "bird_s": ref, "ratio": round(adv / ref, 2)}, "runs": runs}, separators=(",", ":")))
PY
bench_publish bgp "$work/section.md"
