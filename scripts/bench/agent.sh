#!/usr/bin/env bash
# bench-agent: the node agent (issue #14), two measurements in one run.
#
# 1. ADD with the policy wait: one node (a namespace) runs `caracal agent`
#    with 10,000 NetworkPolicies in the datastore; 250 pods are added one by
#    one, each ADD returning only once the agent has committed the pod's
#    rules. Against the reference ptp + host-local (no policy at all) on the
#    same node, interleaved call by call. Goal: caracal ADD p99 <= 1 s.
# 2. A 20-node x 10-pod cluster: agents start, form the full mesh, 200 pods
#    are added, until every node routes every other node's block and a pod
#    on each node pings a pod on every other (380 probes); RSS per agent.
#    Against 20 BIRD 2 daemons in the same full mesh (same namespaces and
#    lan), each originating one /26: until each has its 19 peers' routes in
#    the kernel; RSS per BIRD.
# Usage: scripts/bench/agent.sh [PODS] [POLICIES] [NODES]   (root; wrap in the swift lock)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$bench_root"
pods="${1:-250}" policies="${2:-10000}" cluster_nodes="${3:-20}"
ref_dir=/usr/lib/cni
swift build -c release --product caracal 2>&1 | { grep -E "error|complete" || true; } | tail -1 >&2
cni="$(scripts/build-cni.sh 2> >(grep -E "error|complete" >&2 || true))"
caracal="$(swift build -c release --show-bin-path)/caracal"

work="$(mktemp -d)"
p="crcbench-agent-$$"
declare -a nodes
# shellcheck source=scripts/cluster-lib.sh
source "$bench_root/scripts/cluster-lib.sh"
bird_pids=()
cleanup() {
  for pid in "${agent_pid[@]}" "${bird_pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  for ns in $(ip netns list | awk '{print $1}' | grep "^$p-" || true); do ip netns delete "$ns" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
# The process's own memory (heap and stacks), without the pages of its
# executable and libraries, which are file-backed, shared between the
# processes mapping them and reclaimable.
anon_kb() { awk '/^RssAnon/ {print $2}' "/proc/$1/status"; }

# ---- 1. ADD with the policy wait -------------------------------------------
db="$work/add.db"
nodes=(n1)
make_nodes >/dev/null
"$caracal" ipam pool create bench --cidr 10.240.0.0/16 --block-size 26 --cooldown 0 --datastore "$db" >/dev/null
python3 - "$work/policies.yaml" "$policies" <<'PY'
import sys
path, n = sys.argv[1], int(sys.argv[2])
with open(path, "w") as f:
    for ns in range(100):
        f.write(f"apiVersion: v1\nkind: Namespace\nmetadata: {{name: ns{ns}, labels: {{team: t{ns % 10}}}}}\n---\n")
    for i in range(n):
        f.write(f"""apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {{name: p{i}, namespace: ns{i % 100}}}
spec:
  podSelector: {{matchLabels: {{app: app{i % 50}}}}}
  policyTypes: [Ingress]
  ingress:
    - from: [{{podSelector: {{matchLabels: {{app: app{(i + 1) % 50}}}}}}}, {{namespaceSelector: {{matchLabels: {{team: t{i % 10}}}}}}}]
      ports: [{{port: {8000 + i % 100}, protocol: TCP}}]
---
""")
PY
t0=$(date +%s.%N)
"$caracal" apply -f "$work/policies.yaml" --datastore "$db" >/dev/null
echo "stored $policies policies in $(python3 -c "print(round($(date +%s.%N) - $t0, 1))") s" >&2
db_saved="$db"
start_agent n1
agent="${agent_pid[n1]}"
for _ in $(seq 600); do
  "$caracal" status --json --socket "$work/n1.sock" 2>/dev/null | grep -q '"policyRevision":[1-9]' && break
  sleep 0.1
done
echo "agent up with its first policy apply after $(python3 -c "print(round($(date +%s.%N) - $t0, 1))") s (since the store began)" >&2
for i in $(seq 0 $((pods - 1))); do ip netns add "$p-c$i"; ip netns add "$p-r$i"; done
python3 - "$cni" "$ref_dir" "$p" "$pods" "$work" "$db" <<'PY' > "$work/add.json"
import ctypes, json, os, subprocess, sys, time
cni, ref_dir, p, pods, work, db = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5], sys.argv[6]
libc = ctypes.CDLL("libc.so.6", use_errno=True)
fd = os.open(f"/run/netns/{p}-n1", os.O_RDONLY)
if libc.setns(fd, 0x40000000) != 0: sys.exit("setns failed")
ref = json.dumps({"cniVersion": "1.0.0", "name": "ref", "type": "ptp", "mtu": 1500, "ipMasq": False,
                  "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.230.0.0/16"}]], "dataDir": f"{work}/host-local"}}).encode()
def car(i):
    return json.dumps({"cniVersion": "1.0.0", "name": "caracal", "type": "caracal-cni", "mtu": 1500, "nodeName": "n1",
                       "agentSocket": f"{work}/n1.sock", "datastore": {"path": db}, "ipam": {"type": "caracal", "pools": ["bench"]},
                       "args": {"cni": {"labels": [{"key": "app", "value": f"app{i % 50}"}]}}}).encode()
def call(plugin, stdin, ns, i):
    env = {"CNI_COMMAND": "ADD", "CNI_CONTAINERID": f"b{i}", "CNI_NETNS": f"/run/netns/{p}-{ns}{i}", "CNI_IFNAME": "eth0",
           "CNI_PATH": ref_dir, "CNI_ARGS": f"IgnoreUnknown=1;K8S_POD_NAMESPACE=ns{i % 10};K8S_POD_NAME=pod{i}"}
    t0 = time.perf_counter()
    r = subprocess.run([plugin], input=stdin, env=env, capture_output=True)
    if r.returncode != 0: sys.exit(f"{plugin} pod {i}: {r.stdout.decode()} {r.stderr.decode()}")
    return (time.perf_counter() - t0) * 1000
lat = {"caracal": [], "reference": []}
for i in range(pods):
    order = [("caracal", cni, car(i), "c"), ("reference", f"{ref_dir}/ptp", ref, "r")]
    if i % 2: order.reverse()
    for name, plugin, stdin, ns in order: lat[name].append(call(plugin, stdin, ns, i))
def pct(xs, q):
    xs = sorted(xs); return xs[min(len(xs) - 1, int(round(q / 100 * (len(xs) - 1))))]
print(json.dumps({n: {"p50_ms": round(pct(v, 50), 1), "p99_ms": round(pct(v, 99), 1), "max_ms": round(max(v), 1)} for n, v in lat.items()}))
PY
add_rss=$(rss_kb "$agent")
kill -TERM "$agent"; wait "$agent" 2>/dev/null || true
agent_pid=()
for ns in $(ip netns list | awk '{print $1}' | grep "^$p-" || true); do ip netns delete "$ns"; done
echo "ADD: $(cat "$work/add.json"); agent RSS $((add_rss / 1024)) MB" >&2

# ---- 2. A cluster of NODES x 10 pods -----------------------------------------
db="$work/cluster.db"
nodes=(); for i in $(seq 1 "$cluster_nodes"); do nodes+=("n$i"); done
make_nodes >/dev/null
# The pool cluster-lib.sh's network config names.
"$caracal" ipam pool create demo --cidr 10.240.0.0/16 --block-size 26 --datastore "$db" >/dev/null
now() { date +%s.%N; }
since() { python3 -c "import sys; print(round(float(sys.argv[2]) - float(sys.argv[1]), 2))" "$1" "$(now)"; }
t0=$(now)
for n in "${nodes[@]}"; do start_agent "$n"; done
sessions=$((cluster_nodes - 1))
for n in "${nodes[@]}"; do
  for _ in $(seq 600); do [ "$(established "$n")" -ge $((2 * sessions)) ] && break; sleep 0.1; done
done
t_mesh=$(since "$t0")
pods_added=0
for n in "${nodes[@]}"; do
  for k in $(seq 0 9); do add "$n" "$n-p$k" >/dev/null; pods_added=$((pods_added + 1)); done
done
t_pods=$(since "$t0")
for n in "${nodes[@]}"; do
  for _ in $(seq 600); do [ "$(ip -n "$p-$n" route show proto 201 | grep -c via)" -ge "$sessions" ] && break; sleep 0.1; done
done
t_routes=$(since "$t0")
fails=0
for a in "${nodes[@]}"; do
  for b in "${nodes[@]}"; do
    [ "$a" = "$b" ] && continue
    in_ns "$a-p0" ping -c 1 -W 2 -q "${pod_ip[$b-p0]}" >/dev/null 2>&1 || fails=$((fails + 1))
  done
done
t_reach=$(since "$t0")
rss_total=0; anon_total=0
for n in "${nodes[@]}"; do rss_total=$((rss_total + $(rss_kb "${agent_pid[$n]}"))); anon_total=$((anon_total + $(anon_kb "${agent_pid[$n]}"))); done
caracal_rss_mb=$(python3 -c "print(round($rss_total / 1024 / $cluster_nodes, 1))")
caracal_anon_mb=$(python3 -c "print(round($anon_total / 1024 / $cluster_nodes, 1))")
for n in "${nodes[@]}"; do kill -TERM "${agent_pid[$n]}"; done; wait 2>/dev/null || true
agent_pid=()
for ns in $(ip netns list | awk '{print $1}' | grep "^$p-" || true); do ip netns delete "$ns"; done
echo "cluster: mesh ${t_mesh}s, pods ${t_pods}s, routes ${t_routes}s, reachability ${t_reach}s ($fails failed probes), RSS ${caracal_rss_mb} MB/agent" >&2

# BIRD: the same mesh, one /26 per node.
make_nodes >/dev/null
t0=$(now)
i=0
for n in "${nodes[@]}"; do
  i=$((i + 1))
  {
    echo "router id 10.99.0.$i;"
    echo "protocol device {}"
    echo "protocol kernel { ipv4 { import none; export where source = RTS_BGP; }; merge paths on; }"
    # Blackholes, as the agents program for their blocks (BIRD carries them
    # as unreachable routes: counted by prefix below).
    echo "protocol static { ipv4; route 10.250.$i.0/26 blackhole; }"
    echo "template bgp mesh { local 10.99.0.$i as 64512; hold time 9; ipv4 { import all; export all; next hop self; }; }"
    j=0; for _ in "${nodes[@]}"; do j=$((j + 1)); [ "$j" = "$i" ] || echo "protocol bgp p$j from mesh { neighbor 10.99.0.$j as 64512; }"; done
  } > "$work/$n.bird.conf"
  (exec ip netns exec "$p-$n" bird -f -c "$work/$n.bird.conf" -s "$work/$n.bird.ctl" -P "$work/$n.bird.pid") & bird_pids+=($!)
done
for n in "${nodes[@]}"; do
  for _ in $(seq 600); do [ "$(ip -n "$p-$n" route show proto bird | grep -c 10.250.)" -ge "$sessions" ] && break; sleep 0.1; done
done
t_bird=$(since "$t0")
rss_total=0; anon_total=0
for pid in "${bird_pids[@]}"; do rss_total=$((rss_total + $(rss_kb "$pid"))); anon_total=$((anon_total + $(anon_kb "$pid"))); done
bird_rss_mb=$(python3 -c "print(round($rss_total / 1024 / $cluster_nodes, 1))")
bird_anon_mb=$(python3 -c "print(round($anon_total / 1024 / $cluster_nodes, 1))")
echo "BIRD: routes ${t_bird}s, RSS ${bird_rss_mb} MB/daemon (anon ${bird_anon_mb} MB)" >&2

python3 - "$work/add.json" "$work/section.md" "$pods" "$policies" "$cluster_nodes" "$pods_added" "$t_mesh" "$t_pods" "$t_routes" "$t_reach" "$fails" \
  "$caracal_rss_mb" "$t_bird" "$bird_rss_mb" "$((add_rss / 1024))" "$caracal_anon_mb" "$bird_anon_mb" <<'PY'
import json, sys
add = json.load(open(sys.argv[1])); out = sys.argv[2]
pods, policies, nodes, pods_added = int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
t_mesh, t_pods, t_routes, t_reach = map(float, sys.argv[7:11]); fails = int(sys.argv[11])
car_rss, t_bird, bird_rss, add_rss = float(sys.argv[12]), float(sys.argv[13]), float(sys.argv[14]), int(sys.argv[15])
car_anon, bird_anon = float(sys.argv[16]), float(sys.argv[17])
c, r = add["caracal"], add["reference"]
summary = {"bench": "agent", "add_pods": pods, "policies": policies,
           "add_p50_ms": c["p50_ms"], "add_p99_ms": c["p99_ms"], "ref_add_p99_ms": r["p99_ms"],
           "add_p99_ratio": round(c["p99_ms"] / r["p99_ms"], 2), "add_goal_met": c["p99_ms"] <= 1000,
           "cluster_nodes": nodes, "cluster_pods": pods_added, "mesh_s": t_mesh, "routes_s": t_routes, "reachable_s": t_reach,
           "failed_probes": fails, "agent_rss_mb": car_rss, "bird_routes_s": t_bird, "bird_rss_mb": bird_rss,
           "rss_ratio": round(car_rss / bird_rss, 2), "agent_anon_mb": car_anon, "bird_anon_mb": bird_anon,
           "anon_ratio": round(car_anon / bird_anon, 2)}
with open(out, "w") as f:
    f.write(f"""## bench-agent

`make bench-agent` (scripts/bench/agent.sh): the node agent.

**ADD with the policy wait**: {pods} pods added one by one to a node whose
agent holds {policies} NetworkPolicies over 100 namespaces; each ADD returns
once the agent has committed the pod's rules (fail closed until then).
Interleaved call by call with the reference ptp + host-local, which
programs no policy at all.

| | p50 | p99 | max |
|---|---|---|---|
| caracal-cni + agent (policy committed) | {c['p50_ms']} ms | {c['p99_ms']} ms | {c['max_ms']} ms |
| ptp + host-local (no policy) | {r['p50_ms']} ms | {r['p99_ms']} ms | {r['max_ms']} ms |

Goal p99 ≤ 1 s: {'met' if c['p99_ms'] <= 1000 else 'NOT met'}. Agent RSS with {policies} policies and {pods} pods: {add_rss} MB.

**A {nodes}-node cluster, 10 pods per node** (namespaces on one bridge, one
embedded datastore): agents started at 0 s; full mesh (IPv4 and IPv6
sessions) at {t_mesh} s; {pods_added} pods added by {t_pods} s; every node
routes every other node's block at {t_routes} s; a pod on each node pings a
pod on every other ({nodes * (nodes - 1)} probes, {fails} failed) by {t_reach} s.
BIRD 2, the same full mesh with one /26 per node (BGP only: no pods, IPAM
or policy): every node has its {nodes - 1} peers' routes in the kernel at
{t_bird} s.

| per process | caracal agent | BIRD | ratio |
|---|---|---|---|
| RSS | {car_rss} MB | {bird_rss} MB | {summary['rss_ratio']}× |
| own memory (RssAnon: heap, stacks) | {car_anon} MB | {bird_anon} MB | {summary['anon_ratio']}× |

Most of the agent's RSS is its executable's and libraries' pages (the
Swift runtime, Foundation and its ICU data): file-backed, shared by every
process that maps them, and reclaimable; RssAnon is what the process
itself holds.

```json
{json.dumps(summary)}
```
""")
print(json.dumps(summary, separators=(",", ":")))
PY
bench_publish agent "$work/section.md"
