#!/usr/bin/env bash
# bench-cni-etcd: ADD latency (p50/p99) of caracal-cni with the embedded
# datastore against the same binary going straight to etcd, interleaved in
# one run, PODS pods each. etcd (Debian's etcd-server) runs in a network
# namespace of its own with its data in a temp dir, reached on a unix
# socket; the plugin runs in a namespace acting as the node; pods are
# namespaces too. Usage: scripts/bench/cni-etcd.sh [PODS]  (root; wrap in the swift lock)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$bench_root"
pods="${1:-100}"

bin="$(scripts/build-cni.sh 2> >(grep -E "error|complete" >&2 || true))"
# The admin CLI only creates the pools (not timed): the debug build will do.
swift build --product caracal 2> >(grep -E "error|complete" >&2 || true) >&2
cli="$(swift build --show-bin-path)/caracal"

work="$(mktemp -d)"
prefix="crcbench-etcd-$$"
etcd_pid=""
cleanup() {
  [ -n "$etcd_pid" ] && kill "$etcd_pid" 2>/dev/null && wait "$etcd_pid" 2>/dev/null || true
  for ns in $(ip netns list | awk '{print $1}' | grep "^$prefix-" || true); do ip netns delete "$ns" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
bench_etcd "$prefix-etcd" "$work" "$cli"
etcd_pid=$bench_etcd_pid
endpoint="unix://$work/etcd.sock:0"

ip netns add "$prefix-node"
ip -n "$prefix-node" link set lo up
# Two more pods each for the warm-up ADDs.
for i in $(seq 0 $((pods + 1))); do ip netns add "$prefix-embedded$i"; ip netns add "$prefix-etcd$i"; done
"$cli" ipam pool create bench --cidr 10.250.0.0/16 --cooldown 0 --datastore "$work/caracal.db" >/dev/null
"$cli" ipam pool create bench --cidr 10.250.0.0/16 --cooldown 0 --datastore "etcd:$endpoint" >/dev/null

out="$work/result.json"
python3 - "$bin" "$prefix" "$pods" "$work" "$endpoint" "$out" <<'PY'
import ctypes, json, os, statistics, subprocess, sys, time
bin_, prefix, pods, work, endpoint, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5], sys.argv[6]
libc = ctypes.CDLL("libc.so.6", use_errno=True)
fd = os.open(f"/run/netns/{prefix}-node", os.O_RDONLY)
if libc.setns(fd, 0x40000000) != 0:  # CLONE_NEWNET: the plugins run in the node namespace
    sys.exit("setns failed")
base = {"cniVersion": "1.0.0", "name": "caracal", "type": "caracal-cni", "mtu": 1400, "nodeName": "bench",
        "ipam": {"type": "caracal", "pools": ["bench"]}}
configs = {
    "embedded": json.dumps({**base, "datastore": {"path": f"{work}/caracal.db"}}).encode(),
    "etcd": json.dumps({**base, "datastore": {"type": "etcd", "endpoints": [endpoint]}}).encode(),
}
times = {name: [] for name in configs}
for i in range(-2, pods):  # two warm-up rounds, not counted
    for name, stdin in configs.items():
        env = {"CNI_COMMAND": "ADD", "CNI_CONTAINERID": f"bench{i + 2}", "CNI_NETNS": f"/run/netns/{prefix}-{name}{i + 2}",
               "CNI_IFNAME": "eth0", "CNI_PATH": "/usr/lib/cni", "CNI_ARGS": f"IgnoreUnknown=1;K8S_POD_NAMESPACE=bench;K8S_POD_NAME=pod{i}"}
        start = time.perf_counter()
        r = subprocess.run([bin_], input=stdin, env=env, capture_output=True)
        elapsed = (time.perf_counter() - start) * 1000
        if r.returncode != 0:
            sys.exit(f"{name} ADD {i} failed: {r.stdout.decode()} {r.stderr.decode()[-400:]}")
        if i >= 0:
            times[name].append(elapsed)
def pct(xs, p):
    xs = sorted(xs); return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]
result = {"pods": pods}
for name, xs in times.items():
    result[f"{name}_add_p50_ms"] = round(statistics.median(xs), 2)
    result[f"{name}_add_p99_ms"] = round(pct(xs, 99), 2)
result["etcd_over_embedded_p50"] = round(result["etcd_add_p50_ms"] / result["embedded_add_p50_ms"], 2)
json.dump(result, open(out, "w"))
PY
section="$work/section.md"
python3 - "$out" "$pods" > "$section" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
print(f"""## bench-cni-etcd

`make bench-cni-etcd` (scripts/bench/cni-etcd.sh {sys.argv[2]}): ADD of the release `caracal-cni`
(scripts/build-cni.sh) with the embedded datastore and the same binary straight to a
single-member etcd 3.4 (own namespace, unix socket, same machine), interleaved, {r['pods']} pods
each, sequential, after two warm-up ADDs each. Wall time from spawn to exit, measured by the
driver inside the node namespace.

| datastore | ADD p50 (ms) | ADD p99 (ms) |
|---|---|---|
| embedded (SQLite file) | {r['embedded_add_p50_ms']} | {r['embedded_add_p99_ms']} |
| etcd (JSON gateway) | {r['etcd_add_p50_ms']} | {r['etcd_add_p99_ms']} |

etcd / embedded at p50: {r['etcd_over_embedded_p50']}.

Raw: `{json.dumps(r, sort_keys=True)}`""")
PY
bench_publish cni-etcd "$section"
cat "$out"; echo
