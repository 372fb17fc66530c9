#!/usr/bin/env bash
# bench-datastore: allocations and releases per second of Caracal's IPAM over
# the embedded SQLite datastore (WAL, one IMMEDIATE transaction per
# operation, as the plugin does), against host-local's file-per-IP + flock
# scheme (reference/hostlocal_store.c) driven the same way, same run, same
# file system. Then, against the embedded store in the same run:
# 2. IPAM allocation latency (p50/p99, one transaction each, retried on
#    conflict) on etcd (Debian's etcd-server in a namespace of its own, on a
#    unix socket), with 1 and 8 concurrent allocators for one node, and 8
#    allocators for 8 nodes;
# 3. watch propagation on a 3-node cluster of agents (scripts/cluster-lib.sh):
#    from `caracal apply` of a NetworkPolicy until nftables has committed it
#    on all 3 nodes (`nft monitor` in each), and from a pod's ADD on node1
#    (its address in a new block) until the route is in the kernel of both
#    other nodes (`ip monitor route`). Timed from the spawn of the command,
#    so the CLI's or plugin's own start is included (reported apart).
# Usage: scripts/bench/datastore.sh [COUNT] [ALLOCATIONS] [ROUNDS]  (root; wrap in the swift lock)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$bench_root"
count="${1:-3000}" allocations="${2:-400}" rounds="${3:-25}"
# Same flags as bench-cni, so both share one build cache.
flags=(-c release --product bench-datastore --static-swift-stdlib --scratch-path .build-bench -Xswiftc -Xclang-linker -Xswiftc -no-pie)
swift build "${flags[@]}" 2>&1 | { grep -E "error|complete" || true; } | tail -1
bin="$(swift build "${flags[@]}" --show-bin-path)/bench-datastore"
swift build -c release --product caracal 2>&1 | { grep -E "error|complete" || true; } | tail -1 >&2
cni="$(scripts/build-cni.sh 2> >(grep -E "error|complete" >&2 || true))"
caracal="$(swift build -c release --show-bin-path)/caracal"
work="$(mktemp -d)"
base="crcbench-ds-$$"
p="$base"
nodes=(node1 node2 node3)
# shellcheck source=scripts/cluster-lib.sh
source "$bench_root/scripts/cluster-lib.sh"
sock_etcd=""
cleanup() {
  for pid in "${agent_pid[@]}" $etcd_pid $sock_etcd; do kill -9 "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  for ns in $(ip netns list | awk '{print $1}' | grep "^$base-" || true); do ip netns delete "$ns" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
cc -O2 -o "$work/hostlocal_store" Sources/bench-datastore/reference/hostlocal_store.c
runs=3
for r in $(seq 1 $runs); do
  mkdir -p "$work/hl$r"
  "$work/hostlocal_store" "$work/hl$r" "$count" > "$work/ref$r.json"
  "$bin" "$work/caracal$r.db" "$count" > "$work/car$r.json"
done

# ---- 2. Allocation latency, embedded against etcd ---------------------------
mkdir -p "$work/kv"
bench_etcd "$base-kv" "$work/kv" "$caracal"
sock_etcd=$bench_etcd_pid
for backend in embedded etcd; do
  for shape in 1:1 8:1 8:8; do
    allocators="${shape%:*}" shape_nodes="${shape#*:}"
    # A fresh key space per measurement (on etcd, the program picks a prefix).
    location="embedded:$work/lat-$allocators-$shape_nodes.db"
    [ "$backend" = etcd ] && location="etcd:unix://$work/kv/etcd.sock:0"
    "$bin" latency "$location" "$allocators" "$allocations" "$shape_nodes" > "$work/lat-$backend-$allocators-$shape_nodes.json"
  done
done

# ---- 3. Watch propagation on a 3-node cluster, embedded against etcd --------
propagation() { # backend → $work/prop-BACKEND.json
  local backend="$1"
  p="$base-$backend"
  db="$work/$backend-cluster.db"
  export CARACAL_DATASTORE="$db"
  make_nodes >/dev/null
  [ "$backend" = etcd ] && start_etcd
  # Blocks of one address: every pod claims a new block, so every ADD is a
  # new route on the other nodes.
  ctl ipam pool create demo --cidr 10.244.0.0/16 --block-size 32 --cooldown 0 >/dev/null
  ctl apply -f - >/dev/null <<YAML
apiVersion: caracal.io/v1alpha1
kind: BGPConfiguration
metadata: {name: default}
spec: {asNumber: 64512, nodeToNodeMesh: true, holdTime: 9}
YAML
  for n in "${nodes[@]}"; do start_agent "$n"; done
  wait_mesh
  # One pod per node: a namespace-wide policy changes every node's rules.
  add node1 a >/dev/null; add node2 b >/dev/null; add node3 c >/dev/null
  for i in $(seq 1 "$rounds"); do
    conf node1 "r$i" > "$work/add-$i.json"
    ip netns add "$p-r$i"
    cat > "$work/policy-$i.yaml" <<YAML
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: bench-$i, namespace: demo}
spec:
  podSelector: {}
  policyTypes: [Ingress]
  ingress: [{ports: [{port: $((7000 + i)), protocol: TCP}]}]
YAML
  done
  python3 - "$p" "$work" "$rounds" "$caracal" "$cni" "$work/prop-$backend.json" <<'PY'
import json, os, queue, select, subprocess, sys, threading, time
p, work, rounds, caracal, cni, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5], sys.argv[6]
events = queue.Queue()
def monitor(node, argv):
    proc = subprocess.Popen(["ip", "netns", "exec", f"{p}-{node}", *argv], stdout=subprocess.PIPE, text=True, bufsize=1)
    def pump():
        for line in proc.stdout:
            events.put((time.monotonic(), node, line))
    threading.Thread(target=pump, daemon=True).start()
    return proc
procs = [monitor(n, ["nft", "monitor", "ruleset"]) for n in ("node1", "node2", "node3")]
procs += [monitor(n, ["ip", "monitor", "route"]) for n in ("node2", "node3")]
time.sleep(1)
def drain(quiet=0.3):
    while True:
        try: events.get(timeout=quiet)
        except queue.Empty: return
def wait_for(nodes, match, t0, limit=10):
    seen = {}
    while len(seen) < len(nodes):
        left = t0 + limit - time.monotonic()
        if left <= 0: sys.exit(f"no event on {sorted(set(nodes) - set(seen))} within {limit} s")
        try: t, node, line = events.get(timeout=left)
        except queue.Empty: continue
        if node in nodes and node not in seen and match(line): seen[node] = t
    return max(seen.values()) - t0
drain()
policy, apply_cli = [], []
for i in range(1, rounds + 1):
    t0 = time.monotonic()
    subprocess.run(["ip", "netns", "exec", f"{p}-lan", caracal, "apply", "-f", f"{work}/policy-{i}.yaml"], check=True, stdout=subprocess.DEVNULL)
    apply_cli.append(time.monotonic() - t0)
    policy.append(wait_for({"node1", "node2", "node3"}, lambda l: l.strip() != "", t0))
    drain()
route, add_cli = [], []
env = dict(os.environ, CNI_COMMAND="ADD", CNI_IFNAME="eth0", CNI_PATH="/usr/lib/cni")
for i in range(1, rounds + 1):
    conf = open(f"{work}/add-{i}.json", "rb").read()
    e = dict(env, CNI_CONTAINERID=f"ctr-r{i}", CNI_NETNS=f"/run/netns/{p}-r{i}",
             CNI_ARGS=f"IgnoreUnknown=1;K8S_POD_NAMESPACE=demo;K8S_POD_NAME=r{i}")
    t0 = time.monotonic()
    r = subprocess.run(["ip", "netns", "exec", f"{p}-node1", cni], input=conf, env=e, capture_output=True, check=True)
    add_cli.append(time.monotonic() - t0)
    ip = json.loads(r.stdout)["ips"][0]["address"].split("/")[0]
    route.append(wait_for({"node2", "node3"}, lambda l, ip=ip: l.startswith(ip + " ") or l.startswith(ip + "/32 "), t0))
    drain()
for proc in procs: proc.kill()
def pct(xs, q): xs = sorted(xs); return round(xs[min(len(xs) - 1, int(len(xs) * q))] * 1000, 1)
json.dump({"policy_p50_ms": pct(policy, .5), "policy_p99_ms": pct(policy, .99), "apply_cli_p50_ms": pct(apply_cli, .5),
           "route_p50_ms": pct(route, .5), "route_p99_ms": pct(route, .99), "add_p50_ms": pct(add_cli, .5)}, open(out, "w"))
PY
  for pid in "${agent_pid[@]}" $etcd_pid; do kill -9 "$pid" 2>/dev/null || true; done
  wait "${agent_pid[@]}" $etcd_pid 2>/dev/null || true
  agent_pid=(); etcd_pid=""
  for ns in $(ip netns list | awk '{print $1}' | grep "^$p-" || true); do ip netns delete "$ns" 2>/dev/null || true; done
}
propagation embedded
propagation etcd

python3 - "$work" "$runs" "$count" "$work/section.md" "$allocations" "$rounds" <<'PY'
import json, statistics, sys
work, runs, count, md = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
allocations, rounds = int(sys.argv[5]), int(sys.argv[6])
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
         "### Allocation latency: etcd against the embedded store", "",
         f"{allocations} IPAM allocations, each one transaction (retried on conflict, as the plugin's are), timed one by one; every allocation checked to have its own address. etcd: Debian's etcd-server, one member, on a unix socket in a namespace of its own; the JSON gateway client (docs/datastore.md).", "",
         "| allocators (nodes) | embedded p50 / p99 ms | etcd p50 / p99 ms | etcd / embedded p50, p99 |", "|---|---|---|---|"]
lat = {}
for shape in ("1-1", "8-1", "8-8"):
    e = json.load(open(f"{work}/lat-embedded-{shape}.json")); t = json.load(open(f"{work}/lat-etcd-{shape}.json"))
    a, n = shape.split("-")
    lat[shape] = {"embedded": e, "etcd": t, "ratio_p50": round(t["p50_ms"] / e["p50_ms"], 2), "ratio_p99": round(t["p99_ms"] / e["p99_ms"], 2)}
    lines.append(f"| {a} ({n}) | {e['p50_ms']} / {e['p99_ms']} | {t['p50_ms']} / {t['p99_ms']} | {lat[shape]['ratio_p50']}×, {lat[shape]['ratio_p99']}× |")
prop = {b: json.load(open(f"{work}/prop-{b}.json")) for b in ("embedded", "etcd")}
lines += ["", "### Watch propagation on 3 nodes: etcd against the embedded store", "",
          f"Three agents on one lan, {rounds} rounds each. Policy: from the spawn of `caracal apply -f` (a NetworkPolicy selecting a pod on every node) until `nft monitor` has shown the commit on all 3 nodes. Route: from the spawn of a CNI ADD on node1 (each pod's address in a new /32 block) until `ip monitor route` has shown the route on both other nodes. Both include the command's own start and run (`apply` alone, ADD alone in the last columns). The embedded store is polled every 20 ms; etcd is watched natively.", "",
          "| datastore | policy → nft on 3 nodes p50 / p99 ms | ADD → route on 2 nodes p50 / p99 ms | `caracal apply` p50 ms | ADD p50 ms |", "|---|---|---|---|---|"]
for b in ("embedded", "etcd"):
    x = prop[b]
    lines.append(f"| {b} | {x['policy_p50_ms']} / {x['policy_p99_ms']} | {x['route_p50_ms']} / {x['route_p99_ms']} | {x['apply_cli_p50_ms']} | {x['add_p50_ms']} |")
prop_ratio = {"policy_p50": round(prop["etcd"]["policy_p50_ms"] / prop["embedded"]["policy_p50_ms"], 2),
              "route_p50": round(prop["etcd"]["route_p50_ms"] / prop["embedded"]["route_p50_ms"], 2)}
lines += ["", f"Ratio etcd / embedded (lower is better): policy {prop_ratio['policy_p50']}×, route {prop_ratio['route_p50']}× (p50).", "",
          "Command: `make bench-datastore` (scripts/bench/datastore.sh)."]
open(md, "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
print(json.dumps({"bench": "datastore", "count": count, "caracal": car, "reference": ref, "ratio": ratio,
                  "latency": lat, "propagation": prop, "propagation_ratio": prop_ratio}, separators=(",", ":")))
PY
bench_publish datastore "$work/section.md"
