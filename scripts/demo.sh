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
# Everything lives in namespaces named cdemo-<pid>-*, removed on exit unless
# --keep. The host's own interfaces, routes and ruleset are never touched.
# CARACAL_BIN and CARACAL_CNI point at other builds (default: release).
set -euo pipefail
keep=false
[ "${1:-}" = --keep ] && keep=true
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
caracal="${CARACAL_BIN:-$(swift build -c release --show-bin-path)/caracal}"
cni="${CARACAL_CNI:-$root/.build-static/release/caracal-cni}"
[ -x "$caracal" ] && [ -x "$cni" ] || { echo "demo: build first (make release)" >&2; exit 1; }

p="cdemo-$$"
work="$(mktemp -d)"
nodes=(node1 node2 node3)
declare -A agent_pid
cleanup() {
  for pid in "${agent_pid[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if $keep; then echo "kept: namespaces $p-*, files in $work"; return; fi
  for ns in $(ip netns list | awk '{print $1}' | grep "^$p-" || true); do ip netns delete "$ns" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
in_ns() { local ns="$1"; shift; ip netns exec "$p-$ns" "$@"; }
summary=()

db="$work/caracal.db"
export CARACAL_DATASTORE="$db"
step "caracal $("$caracal" --version); caracal-cni speaks $(CNI_COMMAND=VERSION "$cni" </dev/null)"

step "Three nodes on one L2 segment"
ip netns add "$p-lan"
ip -n "$p-lan" link add br0 type bridge; ip -n "$p-lan" link set br0 up
i=0
for n in "${nodes[@]}"; do
  i=$((i + 1))
  ip netns add "$p-$n"; ip -n "$p-$n" link set lo up
  ip -n "$p-$n" link add lan0 type veth peer name "$n" netns "$p-lan"
  ip -n "$p-lan" link set "$n" master br0 up
  ip -n "$p-$n" addr add "10.99.0.$i/24" dev lan0
  ip -n "$p-$n" addr add "fd99::$i/64" dev lan0 nodad
  ip -n "$p-$n" link set lan0 up
  in_ns "$n" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
  echo "$n lan0 10.99.0.$i/24 fd99::$i/64"
done

step "The cluster's resources: a pool, the BGP configuration (full mesh)"
"$caracal" ipam pool create demo --cidr 10.244.0.0/16 --block-size 26 --exclude 10.244.0.0-10.244.0.9
cat > "$work/bgp.yaml" <<YAML
apiVersion: caracal.io/v1alpha1
kind: BGPConfiguration
metadata: {name: default}
spec: {asNumber: 64512, nodeToNodeMesh: true, holdTime: 9}
YAML
"$caracal" apply -f "$work/bgp.yaml"

step "An agent per node (caracal agent --config node.yaml, inside the node's namespace)"
start_agent() {
  local n="$1"
  cat > "$work/$n.yaml" <<YAML
apiVersion: caracal.io/v1alpha1
kind: AgentConfiguration
metadata: {name: $n}
spec:
  cluster:
    nodeName: $n
    datastore: $db
    nodeAddress: {ipv4: interface=lan0, ipv6: interface=lan0}
  control: {socket: $work/$n.sock}
YAML
  in_ns "$n" "$caracal" agent --config "$work/$n.yaml" >>"$work/$n.log" 2>&1 &
  agent_pid[$n]=$!
}
for n in "${nodes[@]}"; do start_agent "$n"; done
established() { # node → number of Established sessions
  "$caracal" status --json --socket "$work/$1.sock" 2>/dev/null \
    | python3 -c 'import json,sys; print(sum(p["state"]=="Established" for p in json.load(sys.stdin)["result"]["bgp"]["peers"]))' 2>/dev/null || echo 0
}
wait_mesh() {
  for _ in $(seq 100); do
    local ok=true
    for n in "${nodes[@]}"; do [ "$(established "$n")" -ge 4 ] || ok=false; done
    $ok && return 0
    sleep 0.2
  done
  echo "demo: the mesh did not come up; agent logs in $work" >&2; tail -n 5 "$work"/*.log >&2; exit 1
}
t0=$(date +%s.%N)
wait_mesh
echo "mesh established (IPv4 and IPv6 sessions) in $(python3 -c "print(f'{$(date +%s.%N) - $t0:.1f}')") s"

conf() { # node pod [extra ipam json]
  cat <<JSON
{"cniVersion":"1.1.0","name":"caracal","type":"caracal-cni","mtu":1500,"nodeName":"$1","agentSocket":"$work/$1.sock",
 "datastore":{"path":"$db"},"ipam":{"type":"caracal","pools":["demo"]${3:-}},
 "args":{"cni":{"labels":[{"key":"app","value":"$2"}]}}}
JSON
}
cni_call() { # command node pod container [extra ipam json]
  conf "$2" "$3" "${5:-}" | in_ns "$2" env CNI_COMMAND="$1" CNI_CONTAINERID="$4" CNI_NETNS="/run/netns/$p-$3" \
    CNI_IFNAME=eth0 CNI_PATH=/usr/lib/cni CNI_ARGS="IgnoreUnknown=1;K8S_POD_NAMESPACE=demo;K8S_POD_NAME=$3" "$cni"
}
ip_of() { python3 -c 'import json,sys; print(json.load(sys.stdin)["ips"][0]["address"].split("/")[0])'; }
sts='{"statefulSetClaims":{"namespaces":["demo"]}}'
sts=",${sts:1:-1}"

step "Two pods per node through caracal-cni (ADD returns once the pod's policy is in place)"
declare -A pod_ip pod_node
add() { # node pod
  ip netns add "$p-$2"
  pod_ip[$2]="$(cni_call ADD "$1" "$2" "ctr-$2" "$sts" | ip_of)"
  pod_node[$2]=$1
  echo "$1: demo/$2 ${pod_ip[$2]}"
}
add node1 web; add node1 db; add node2 client; add node2 cache-0; add node3 api; add node3 worker

step "caracal status on node1"
"$caracal" status --socket "$work/node1.sock"
echo "-- node1's kernel routes: its pods' /32s, its block as a blackhole, the other nodes' blocks via BGP:"
ip -n "$p-node1" route show proto 201
echo "-- no tunnel devices anywhere:"; ip -n "$p-node1" -d link show | grep -cE "ipip|vxlan|wireguard|geneve" || true

step "Every pod pings every other"
pods=(web db client cache-0 api worker)
wait_routes() { # wait until node1 has a route to every pod (BGP convergence)
  for _ in $(seq 50); do
    local ok=true
    for q in "${pods[@]}"; do ip -n "$p-node1" route get "${pod_ip[$q]}" 2>/dev/null | grep -q blackhole && ok=false; done
    $ok && return 0; sleep 0.2
  done
}
matrix() {
  local fails=0
  printf '%-9s' from/to; for q in "${pods[@]}"; do printf '%-9s' "$q"; done; echo
  for s in "${pods[@]}"; do
    printf '%-9s' "$s"
    for q in "${pods[@]}"; do
      if [ "$s" = "$q" ]; then printf '%-9s' "-"; continue; fi
      if in_ns "$s" ping -c 1 -W 1 -q "${pod_ip[$q]}" >/dev/null 2>&1; then printf '%-9s' ok; else printf '%-9s' FAIL; fails=$((fails + 1)); fi
    done; echo
  done
  return "$fails"
}
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
"$caracal" apply -f "$work/policy.yaml"
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
for _ in $(seq 50); do in_ns web ping -c 1 -W 1 -q "$old" >/dev/null 2>&1 && break; sleep 0.2; done
echo "-- node1's route to $old now:"; ip -n "$p-node1" route get "$old" | head -1
in_ns web ping -c 2 -W 1 "$old" | tail -2
summary+=("sticky IP: demo/cache-0 kept $old from node2 to node3, reachable from node1")

step "Restart node2's agent under a running ping (node1 web → node2 client, every 20 ms)"
in_ns web ping -i 0.02 -w 6 -q "${pod_ip[client]}" > "$work/ping.txt" 2>&1 & pinger=$!
sleep 1
kill -TERM "${agent_pid[node2]}"; wait "${agent_pid[node2]}" 2>/dev/null || true
start_agent node2
wait "$pinger" || true
loss="$(grep -oE '[0-9]+ packets transmitted, [0-9]+ received' "$work/ping.txt")"
echo "$loss"
wait_mesh
summary+=("agent restart under ping: $loss")

step "The cluster as a graph (caracal cluster graph)"
"$caracal" cluster graph > "$work/cluster.dot"
head -8 "$work/cluster.dot"
if command -v dot >/dev/null; then dot -Tpng "$work/cluster.dot" -o "$work/cluster.png" && echo "rendered $work/cluster.png"; fi

step "Summary"
for line in "${summary[@]}"; do echo "  - $line"; done
