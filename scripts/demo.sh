#!/usr/bin/env bash
# The README's main job: a three-node Caracal cluster in network namespaces.
# Each node runs `caracal agent` (BGP full mesh from the datastore, routes
# and policy into its own namespace's kernel); pods are added by calling
# caracal-cni exactly as a container runtime does. No tunnels, no NAT: pods
# reach each other by plain routing.
#
#          lan bridge (10.99.0.0/24, fd99::/64)
#    ┌──────────────┼──────────────┐
#  node1 .1       node2 .2       node3 .3     one agent each, one embedded datastore
#  web, db        client, cache-0  api, worker (cache-0 then moves node2 → node3)
#
# `--datastore etcd`: the nodes share an etcd (started on the lan bridge,
# 10.99.0.254, in the lan's namespace) instead of one embedded file; the
# agents follow its native watch and caracal-cni allocates straight from it.
# Everything lives in namespaces named cdemo-<pid>-*, removed on exit unless
# --keep. The host's own interfaces, routes and ruleset are never touched.
# CARACAL_BIN and CARACAL_CNI point at other builds (default: release).
set -euo pipefail
keep=false
datastore=embedded
while [ $# -gt 0 ]; do
  case "$1" in
    --keep) keep=true ;;
    --datastore) datastore="${2:-}"; shift ;;
    *) echo "usage: $0 [--keep] [--datastore embedded|etcd]" >&2; exit 2 ;;
  esac
  shift
done
case "$datastore" in embedded|etcd) ;; *) echo "demo: --datastore embedded or etcd, not \"$datastore\"" >&2; exit 2 ;; esac
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
caracal="${CARACAL_BIN:-$(swift build -c release --show-bin-path)/caracal}"
cni="${CARACAL_CNI:-$root/.build-static/release/caracal-cni}"
[ -x "$caracal" ] && [ -x "$cni" ] || { echo "demo: build first (make release)" >&2; exit 1; }

p="cdemo-$$"
work="$(mktemp -d)"
nodes=(node1 node2 node3)
# shellcheck source=scripts/cluster-lib.sh
source "$root/scripts/cluster-lib.sh"
cleanup() {
  for pid in "${agent_pid[@]}" $etcd_pid; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if $keep; then echo "kept: namespaces $p-*, files in $work"; return; fi
  for ns in $(ip netns list | awk '{print $1}' | grep "^$p-" || true); do ip netns delete "$ns" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
summary=()

db="$work/caracal.db"
export CARACAL_DATASTORE="$db"
step "caracal $("$caracal" --version); caracal-cni speaks $(CNI_COMMAND=VERSION "$cni" </dev/null)"

step "Three nodes on one L2 segment"
make_nodes
if [ "$datastore" = etcd ]; then
  step "The cluster's datastore: etcd $(etcd --version | awk '/etcd Version/ {print $3}') on the lan (10.99.0.254:2379)"
  start_etcd
  summary+=("datastore: etcd at ${db#etcd:}, shared by the three nodes")
else
  summary+=("datastore: one embedded file, shared by the three nodes")
fi

step "The cluster's resources: a pool, the BGP configuration (full mesh)"
ctl ipam pool create demo --cidr 10.244.0.0/16 --block-size 26 --exclude 10.244.0.0-10.244.0.9
cat > "$work/bgp.yaml" <<YAML
apiVersion: caracal.io/v1alpha1
kind: BGPConfiguration
metadata: {name: default}
spec: {asNumber: 64512, nodeToNodeMesh: true, holdTime: 9}
YAML
ctl apply -f "$work/bgp.yaml"

step "An agent per node (caracal agent --config node.yaml, inside the node's namespace)"
for n in "${nodes[@]}"; do start_agent "$n"; done
t0=$(date +%s.%N)
wait_mesh
echo "mesh established (IPv4 and IPv6 sessions) in $(python3 -c "print(f'{$(date +%s.%N) - $t0:.1f}')") s"


step "Two pods per node through caracal-cni (ADD returns once the pod's policy is in place)"
add node1 web; add node1 db; add node2 client; add node2 cache-0; add node3 api; add node3 worker

step "caracal status on node1"
"$caracal" status --socket "$work/node1.sock"
echo "-- node1's kernel routes: its pods' /32s, its block as a blackhole, the other nodes' blocks via BGP:"
ip -n "$p-node1" route show proto 201
echo "-- no tunnel devices anywhere:"; ip -n "$p-node1" -d link show | grep -cE "ipip|vxlan|wireguard|geneve" || true

step "Every pod pings every other"
pods=(web db client cache-0 api worker)
wait_routes
if matrix; then summary+=("reachability: 30/30 pod pairs across 3 nodes"); else echo "demo: some pods cannot reach each other" >&2; exit 1; fi

step "Network policy from the datastore: db accepts only web on TCP 5432"
cat > "$work/policy.yaml" <<YAML
apiVersion: v1
kind: Namespace
metadata: {name: demo, labels: {team: demo}}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: db-from-web, namespace: demo}
spec:
  podSelector: {matchLabels: {app: db}}
  policyTypes: [Ingress]
  ingress:
    - from: [{podSelector: {matchLabels: {app: web}}}]
      ports: [{port: 5432, protocol: TCP}]
YAML
cat "$work/policy.yaml"
# Pod labels reach the endpoint records through args.cni.labels (app=<pod> here).
ctl apply -f "$work/policy.yaml"
echo "-- caracal policy explain --cluster: each end judged on its own node"
ctl policy explain --cluster --from demo/web --to demo/db --port 5432/TCP
ctl policy explain --cluster --from demo/client --to demo/db --port 5432/TCP || true
in_ns db timeout 20 socat -u TCP-LISTEN:5432,reuseaddr,fork OPEN:/dev/null & listener=$!
sleep 1
probe() { if in_ns "$1" timeout 3 socat -u OPEN:/dev/null "TCP:$2:5432,connect-timeout=2" 2>/dev/null; then echo "$1 -> db:5432 connected"; else echo "$1 -> db:5432 blocked"; fi; }
allowed="$(probe web "${pod_ip[db]}")"; echo "$allowed"
denied="$(probe client "${pod_ip[db]}")"; echo "$denied"
kill "$listener" 2>/dev/null || true; wait "$listener" 2>/dev/null || true
summary+=("policy: $allowed (same node), $denied (from node2)")

step "A sticky IP moves: demo/cache-0 from node2 to node3"
old="${pod_ip[cache-0]}"
cni_call DEL node2 cache-0 ctr-cache-0 "$sts"
ip netns delete "$p-cache-0"
add node3 cache-0
[ "${pod_ip[cache-0]}" = "$old" ] || { echo "demo: the claim did not hold ($old then ${pod_ip[cache-0]})" >&2; exit 1; }
reaches web "$old" || true  # the ping below shows the outcome
echo "-- node1's route to $old now:"; ip -n "$p-node1" route get "$old" | head -1
in_ns web ping -c 2 -W 1 "$old" | tail -2
summary+=("sticky IP: demo/cache-0 kept $old from node2 to node3, reachable from node1")

step "Restart node2's agent under a running ping (node1 web → node2 client, every 20 ms)"
restart_under_ping node2 web client 0.02 6 "$work/ping.txt"
read -r sent received < <(ping_counts "$work/ping.txt")
loss="$sent probes, $received answered"
echo "$loss"
wait_mesh
summary+=("agent restart under ping: $loss")

step "The cluster as a graph (caracal cluster graph)"
ctl cluster graph > "$work/cluster.dot"
head -8 "$work/cluster.dot"
dot -Tpng "$work/cluster.dot" -o "$work/cluster.png" && echo "rendered $work/cluster.png (kept with --keep)"

step "Summary"
for line in "${summary[@]}"; do echo "  - $line"; done
