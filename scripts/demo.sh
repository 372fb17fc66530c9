#!/usr/bin/env bash
# The README's main job: a two-node Caracal cluster in network namespaces on
# one embedded datastore. Until the agent and its BGP speaker exist, this
# script plays the agent's part with the CLI: it programs each node's routes
# to the other node's block through `caracal routes sync` (RouteProgrammer),
# and applies network policy through `caracal policy apply` (libnftnl).
#
#   node1 (10.99.0.1) ──underlay veth── node2 (10.99.0.2)
#    ├─ pod demo/web   (caracal-cni ADD)    └─ pod demo/client
#    └─ pod demo/db                         (then demo/cache-0 moves node1 → node2)
#
# Everything lives in namespaces named cdemo-<pid>-*, removed on exit. The
# host's own interfaces, routes and ruleset are never touched.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
bin="$(swift build -c release --show-bin-path)"
# caracal-cni as shipped: scripts/build-cni.sh (run by make release).
caracal="$bin/caracal"; cni="$root/.build-static/release/caracal-cni"
[ -x "$caracal" ] && [ -x "$cni" ] || { echo "demo: build first (make release)" >&2; exit 1; }

p="cdemo-$$"
work="$(mktemp -d)"
cleanup() {
  for ns in $(ip netns list | awk '{print $1}' | grep "^$p-" || true); do ip netns delete "$ns" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
in_ns() { local ns="$1"; shift; ip netns exec "$p-$ns" "$@"; }

db="$work/caracal.db"
export CARACAL_DATASTORE="$db"

step "caracal $("$caracal" --version); caracal-cni speaks $(CNI_COMMAND=VERSION "$cni" </dev/null)"

step "Two nodes joined by an underlay link"
for n in node1 node2 web db client cache-0; do ip netns add "$p-$n"; ip -n "$p-$n" link set lo up; done
ip -n "$p-node1" link add u0 type veth peer name u0 netns "$p-node2"
ip -n "$p-node1" addr add 10.99.0.1/30 dev u0; ip -n "$p-node1" link set u0 up
ip -n "$p-node2" addr add 10.99.0.2/30 dev u0; ip -n "$p-node2" link set u0 up
echo "node1 u0 10.99.0.1/30  <->  node2 u0 10.99.0.2/30"

step "An admin-defined pool (IPAM over the embedded datastore $db)"
"$caracal" ipam pool create demo --cidr 10.244.0.0/16 --block-size 26 --exclude 10.244.0.0-10.244.0.9
"$caracal" ipam pools

conf() {
  cat <<JSON
{"cniVersion":"1.1.0","name":"caracal","type":"caracal-cni","mtu":1500,"nodeName":"$1",
 "datastore":{"path":"$db"},"ipam":{"type":"caracal","pools":["demo"]}}
JSON
}
add_pod() { # node pod
  conf "$1" | in_ns "$1" env CNI_COMMAND=ADD CNI_CONTAINERID="ctr-$2" CNI_NETNS="/run/netns/$p-$2" \
    CNI_IFNAME=eth0 CNI_PATH=/usr/lib/cni CNI_ARGS="IgnoreUnknown=1;K8S_POD_NAMESPACE=demo;K8S_POD_NAME=$2" "$cni"
}
del_pod() {
  conf "$1" | in_ns "$1" env CNI_COMMAND=DEL CNI_CONTAINERID="ctr-$2" CNI_NETNS="/run/netns/$p-$2" \
    CNI_IFNAME=eth0 CNI_PATH=/usr/lib/cni CNI_ARGS="IgnoreUnknown=1;K8S_POD_NAMESPACE=demo;K8S_POD_NAME=$2" "$cni"
}
ip_of() { python3 -c 'import json,sys; print(json.load(sys.stdin)["ips"][0]["address"].split("/")[0])'; }

step "caracal-cni ADD: web and db on node1, client on node2"
web_ip="$(add_pod node1 web | tee "$work/web.json" | ip_of)"
db_ip="$(add_pod node1 db | ip_of)"
client_ip="$(add_pod node2 client | ip_of)"
python3 -m json.tool "$work/web.json"
echo "web $web_ip   db $db_ip   client $client_ip"
echo "-- node1 routes (a /32 per local pod, on its host veth):"; ip -n "$p-node1" route
echo "-- pod web:"; ip -n "$p-web" -br addr show eth0; ip -n "$p-web" route

host_if() { # node ip: the host veth that routes to the pod
  ip -n "$p-$1" route show proto 201 | awk -v ip="$2" '$1 == ip {print $3}'
}
web_if="$(host_if node1 "$web_ip")"; db_if="$(host_if node1 "$db_ip")"; client_if="$(host_if node2 "$client_ip")"

step "Each node's desired routes through RouteProgrammer: its pods' /32s plus the other node's block"
# The agent will build this set from the datastore and BGP; the routes carry
# protocol 201 ("caracal"), and only routes of that protocol are reconciled.
block() { python3 -c "import ipaddress,sys; print(ipaddress.ip_network(sys.argv[1]+'/26', strict=False))" "$1"; }
pod_route() { echo "{\"destination\":\"$1/32\",\"dev\":\"$2\",\"scope\":\"link\"}"; }
cat > "$work/node1-routes.json" <<JSON
[$(pod_route "$web_ip" "$web_if"), $(pod_route "$db_ip" "$db_if"),
 {"destination":"$(block "$client_ip")","via":"10.99.0.2","dev":"u0"}]
JSON
cat > "$work/node2-routes.json" <<JSON
[$(pod_route "$client_ip" "$client_if"),
 {"destination":"$(block "$web_ip")","via":"10.99.0.1","dev":"u0"}]
JSON
cat "$work/node1-routes.json"
"$caracal" routes sync --netns "$p-node1" --desired "$work/node1-routes.json"
"$caracal" routes sync --netns "$p-node2" --desired "$work/node2-routes.json"
"$caracal" routes show --netns "$p-node1" --desired "$work/node1-routes.json"

step "Pod-to-pod traffic across nodes"
in_ns client ping -c 2 -W 1 "$web_ip" | tail -2
in_ns web ping -c 1 -W 1 "$db_ip" | tail -2

step "Network policy: db accepts only web on TCP 5432"
cat > "$work/endpoints.yaml" <<YAML
namespaces:
  - {name: demo, labels: {team: demo}}
endpoints:
  - {namespace: demo, name: web, labels: {app: web}, ips: [$web_ip], interface: $web_if}
  - {namespace: demo, name: db, labels: {app: db}, ips: [$db_ip], interface: $db_if,
     ports: [{name: postgres, port: 5432, protocol: TCP}]}
  - {namespace: demo, name: client, labels: {app: client}, ips: [$client_ip]}
YAML
cat > "$work/policy.yaml" <<YAML
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: db-from-web, namespace: demo}
spec:
  podSelector: {matchLabels: {app: db}}
  policyTypes: [Ingress]
  ingress:
    - from: [{podSelector: {matchLabels: {app: web}}}]
      ports: [{port: postgres, protocol: TCP}]
YAML
cat "$work/policy.yaml"
"$caracal" policy apply -f "$work/policy.yaml" --endpoints "$work/endpoints.yaml" \
  --netns "$p-node1" --state-dir "$work/policy-state"
"$caracal" policy explain --from demo/web --to demo/db --port 5432/TCP --policies "$work/policy.yaml" --endpoints "$work/endpoints.yaml"
"$caracal" policy explain --from demo/client --to demo/db --port 5432/TCP --policies "$work/policy.yaml" --endpoints "$work/endpoints.yaml" || true

in_ns db timeout 10 socat -u TCP-LISTEN:5432,reuseaddr,fork OPEN:/dev/null & listener=$!
sleep 0.5
probe() { if in_ns "$1" timeout 3 socat -u OPEN:/dev/null "TCP:$2:5432,connect-timeout=2" 2>/dev/null; then echo "$1 -> db:5432 connected"; else echo "$1 -> db:5432 blocked"; fi; }
probe web "$db_ip"
probe client "$db_ip"
kill "$listener" 2>/dev/null || true; wait "$listener" 2>/dev/null || true
echo "-- the enforced ruleset, read back from the kernel (first lines):"
"$caracal" policy dump --netns "$p-node1" --state-dir "$work/policy-state" | head -25

step "IPs as first-class resources: history, then DEL"
del_pod node1 web
"$caracal" ipam history "$web_ip"
"$caracal" ipam list
# Each node's records against its live kernel (namespaces, veths, routes).
in_ns node1 "$caracal" ipam check --node node1
in_ns node2 "$caracal" ipam check --node node2

step "A fixed IP that follows its workload: StatefulSet member demo/cache-0 moves from node1 to node2"
# Opt-in (ipam.statefulSetClaims): a pod named <statefulset>-<ordinal> in a
# listed namespace gets the sticky claim demo/cache/0, on any node.
sts_conf() {
  cat <<JSON
{"cniVersion":"1.1.0","name":"caracal","type":"caracal-cni","mtu":1500,"nodeName":"$1",
 "datastore":{"path":"$db"},
 "ipam":{"type":"caracal","pools":["demo"],"statefulSetClaims":{"namespaces":["demo"]}}}
JSON
}
sts() { # command node container
  sts_conf "$2" | in_ns "$2" env CNI_COMMAND="$1" CNI_CONTAINERID="$3" CNI_NETNS="/run/netns/$p-cache-0" \
    CNI_IFNAME=eth0 CNI_PATH=/usr/lib/cni CNI_ARGS="IgnoreUnknown=1;K8S_POD_NAMESPACE=demo;K8S_POD_NAME=cache-0" "$cni"
}
first_ip="$(sts ADD node1 ctr-cache-a | ip_of)"
echo "on node1: demo/cache-0 has $first_ip"
sts DEL node1 ctr-cache-a
echo "deleted on node1 (scale-down keeps the claim):"
"$caracal" ipam show "$first_ip"
second_ip="$(sts ADD node2 ctr-cache-b | ip_of)"
echo "recreated on node2: demo/cache-0 has $second_ip"
[ "$first_ip" = "$second_ip" ] || { echo "demo: the claim did not hold ($first_ip then $second_ip)" >&2; exit 1; }
echo "(outside node2's own blocks, so node2 will advertise it as a /32: the agent's part)"
sts DEL node2 ctr-cache-b
"$caracal" ipam release --claim demo/cache/0
"$caracal" ipam history "$first_ip"

step "The BGP codec on a captured BIRD UPDATE"
# Captured from BIRD by scripts/capture-bgp-vectors.sh (four-octet AS, ADD-PATH for IPv4).
grep -v '^#' Tests/BGPTests/Vectors/bird-v4-1-update.hex | "$caracal" bgp decode --add-path ipv4

step "Done: namespaces are removed on exit"
