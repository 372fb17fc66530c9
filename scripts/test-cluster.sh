#!/usr/bin/env bash
# End-to-end tests of the node agent (issue #14), on a cluster of three
# nodes in network namespaces (scripts/cluster-lib.sh), each running
# `caracal agent`, with pods added through caracal-cni:
#   1. full mesh: every pod reaches every other; no tunnel device anywhere;
#      the node labels an agent records select IPAM pools;
#   2. a sticky IP moves between nodes and stays reachable at the same IP;
#   3. an agent restart under a continuous ping loses at most one probe, and
#      so does restarting every agent of the cluster at once;
#   4. the cluster switches to one route reflector and back, without
#      restarting any agent, reachable after each switch (and the loss
#      during each switch is reported);
#   5. a policy stored once takes effect on every node, and goes again;
#      on etcd, the datastore stopped for twice the liveness timeout
#      disturbs nothing and nobody is taken for dead, and a watch
#      connection that dies silently is noticed and reopened, and after
#      etcd is killed and restarted every agent follows it again;
#   6. a node failure (agent killed, link cut): the others withdraw its
#      routes within 1 s by BFD (embedded run), or within the liveness
#      timeout, 3 s, without BFD (etcd run), and keep serving each other,
#      and their readiness endpoints stay ready (only a node's own state
#      counts); metrics are served;
#   7. once the pool's nodeLossGraceSeconds pass, the dead node's pods'
#      addresses and its blocks are reclaimed; its sticky claim stays and
#      follows the pod to another node.
# With CARACAL_TEST_DATASTORE=etcd the cluster's datastore is an etcd on the
# lan instead of the embedded file (the agents' native watch, caracal-cni
# straight to etcd).
# Usage: scripts/test-cluster.sh BIN_DIR (caracal and caracal-cni). Needs
# root and `scripts/install-deps.sh test`. Prints one line per check and
# exits non-zero on the first failure; namespaces cclu-<pid>-* and the temp
# dir are removed on exit, failure included.
set -euo pipefail
bin="${1:?usage: test-cluster.sh BIN_DIR}"
root="$(cd "$(dirname "$0")/.." && pwd)"
caracal="$bin/caracal"; cni="$bin/caracal-cni"
p="cclu-$$"
work="$(mktemp -d)"
db="$work/caracal.db"
export CARACAL_DATASTORE="$db"
nodes=(node1 node2 node3)
# shellcheck source=scripts/cluster-lib.sh
source "$root/scripts/cluster-lib.sh"
cleanup() {
  for pid in "${agent_pid[@]}" $etcd_pid ${proxy_pid:-}; do kill -9 "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  for ns in $(ip netns list | awk '{print $1}' | grep "^$p-" || true); do ip netns delete "$ns" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; tail -n 20 "$work"/node*.log >&2 || true; exit 1; }
ok() { echo "ok: $*"; }
elapsed() { python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.2f}')" "$1" "$(date +%s.%N)"; }

make_nodes >/dev/null
[ "${CARACAL_TEST_DATASTORE:-embedded}" = etcd ] && start_etcd
echo "datastore: $db"
# A short nodeLossGraceSeconds, so that test 7 sees a lost node reclaimed.
ctl ipam pool create demo --cidr 10.244.0.0/16 --block-size 26 --node-loss-grace 5 >/dev/null
# BFD between nodes (the default) on the embedded run; off on the etcd run,
# so that liveness alone must find the dead node (test 6).
bfd=true; [ -n "$etcd_pid" ] && bfd=false
ctl apply -f - >/dev/null <<YAML
apiVersion: caracal.io/v1alpha1
kind: BGPConfiguration
metadata: {name: default}
spec: {asNumber: 64512, nodeToNodeMesh: true, holdTime: 9, bfd: {enabled: $bfd}}
YAML
# node1 can reflect when the cluster runs reflectors (test 4).
start_agent node1 "    routeReflectorClusterID: 10.99.0.1"
# node2 carries a label that a pool's node selector matches (test 1b).
start_agent node2 "    labels: {zone: b}"; start_agent node3
wait_mesh

# 1. Full mesh.
pods=(web db client cache-0 api worker)
add node1 web >/dev/null; add node1 db >/dev/null; add node2 client >/dev/null
add node2 cache-0 >/dev/null; add node3 api >/dev/null; add node3 worker >/dev/null
wait_routes
matrix > "$work/matrix1.txt" || { cat "$work/matrix1.txt"; fail "full mesh: some pod pairs unreachable"; }
ok "full mesh: 30/30 pod pairs reachable across 3 nodes"
for n in "${nodes[@]}"; do
  tunnels="$(ip -n "$p-$n" -d link show | grep -cE 'ipip|vxlan|geneve|wireguard|gre' || true)"
  [ "$tunnels" = 0 ] || fail "$n has $tunnels tunnel devices"
done
ok "no tunnel devices on any node"

# 1b. The agent records its node's labels for IPAM: a pool selecting
# zone=b serves node2, which carries the label, and not node3.
ctl ipam pool create zone-b --cidr 10.245.0.0/16 --node-selector zone=b >/dev/null
zone_add() { # node pod → the CNI result (or error) of an ADD from pool zone-b
  ip netns add "$p-$2"
  conf "$1" "$2" | sed 's/"pools":\["demo"\]/"pools":["zone-b"]/' | in_ns "$1" env CNI_COMMAND=ADD CNI_CONTAINERID="ctr-$2" \
    CNI_NETNS="/run/netns/$p-$2" CNI_IFNAME=eth0 CNI_PATH=/usr/lib/cni CNI_ARGS="IgnoreUnknown=1;K8S_POD_NAMESPACE=demo;K8S_POD_NAME=$2" "$cni"
}
zb="$(zone_add node2 zb2 | ip_of)"
[[ "$zb" == 10.245.* ]] || fail "node labels: node2 (zone=b) got \"$zb\" from pool zone-b"
refused="$(zone_add node3 zb3 || true)"
echo "$refused" | grep -q "selects node node3" || fail "node labels: node3 (no zone label) was not refused by pool zone-b: $refused"
ok "node labels reach IPAM: pool zone-b (nodeSelector zone=b) serves node2 ($zb) and refuses node3"

# 2. Sticky IP.
old="${pod_ip[cache-0]}"
cni_call DEL node2 cache-0 ctr-cache-0 "$sts" >/dev/null
ip netns delete "$p-cache-0"
add node3 cache-0 >/dev/null
[ "${pod_ip[cache-0]}" = "$old" ] || fail "sticky IP: cache-0 got ${pod_ip[cache-0]}, not $old"
reaches web "$old" || fail "sticky IP: $old unreachable from node1 after the move to node3"
ip -n "$p-node1" route get "$old" | grep -q "via 10.99.0.3" || fail "sticky IP: node1 does not route $old via node3"
ok "sticky IP $old moved node2 → node3 and is reachable from node1 via node3"

# 3. Agent restart under ping.
restart_under_ping node2 web client 0.05 8 "$work/ping-restart.txt"
read -r sent received < <(ping_counts "$work/ping-restart.txt")
[ $((sent - received)) -le 1 ] && [ "$sent" -ge 100 ] || { cat "$work/ping-restart.txt"; fail "agent restart: lost $((sent - received)) of $sent probes"; }
ok "agent restart under ping: $received/$sent probes answered"
wait_mesh
in_ns web ping -i 0.05 -w 10 -q "${pod_ip[worker]}" > "$work/ping-all.txt" 2>&1 & pinger=$!
sleep 1
for n in "${nodes[@]}"; do kill -TERM "${agent_pid[$n]}"; done
for n in "${nodes[@]}"; do wait "${agent_pid[$n]}" 2>/dev/null || true; done
for n in "${nodes[@]}"; do start_agent "$n" "$(cat "$work/$n.extra")"; done
wait_mesh
wait "$pinger" || true
read -r sent received < <(ping_counts "$work/ping-all.txt")
[ $((sent - received)) -le 1 ] && [ "$sent" -ge 100 ] || { cat "$work/ping-all.txt"; fail "restart of every agent: lost $((sent - received)) of $sent probes"; }
ok "every agent restarted at once under ping (node1 → node3): $received/$sent probes answered"

# 4. Mesh → one reflector → mesh, without restarts.
switch() { # true|false
  ctl apply -f - >/dev/null <<YAML
apiVersion: caracal.io/v1alpha1
kind: BGPConfiguration
metadata: {name: default}
spec: {asNumber: 64512, nodeToNodeMesh: $1, holdTime: 9, bfd: {enabled: $bfd}}
YAML
}
sessions_now() { "$caracal" status --json --socket "$work/$1.sock" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["result"]["bgp"]["peers"]))'; }
in_ns client ping -i 0.05 -w 14 -q "${pod_ip[api]}" > "$work/ping-switch.txt" 2>&1 & pinger=$!
sleep 0.5
switch false
# Clients keep only their reflector's sessions once the switch grace passed.
for _ in $(seq 100); do [ "$(sessions_now node2)" = 2 ] && [ "$(sessions_now node3)" = 2 ] && break; sleep 0.2; done
[ "$(sessions_now node2)" = 2 ] || fail "reflectors: node2 still has $(sessions_now node2) sessions"
wait_sessions node1 4 || fail "reflectors: node1 lost its clients"
wait "$pinger" || true
matrix > "$work/matrix-rr.txt" || { cat "$work/matrix-rr.txt"; fail "reflectors: some pod pairs unreachable"; }
rr_loss="$(grep -oE '[0-9]+ packets transmitted, [0-9]+ received' "$work/ping-switch.txt")"
ok "switched to one route reflector (node1) without restarts: all pairs reachable; during the switch $rr_loss"
in_ns client ping -i 0.05 -w 8 -q "${pod_ip[api]}" > "$work/ping-back.txt" 2>&1 & pinger=$!
sleep 0.5
switch true
wait_mesh
wait "$pinger" || true
matrix > "$work/matrix-back.txt" || { cat "$work/matrix-back.txt"; fail "back to mesh: some pod pairs unreachable"; }
ok "switched back to full mesh: all pairs reachable; during the switch $(grep -oE '[0-9]+ packets transmitted, [0-9]+ received' "$work/ping-back.txt")"

# 5. A policy stored once applies on every node: only web may reach the
# other pods on TCP 7000.
listen() { in_ns "$1" timeout 30 socat -u TCP-LISTEN:7000,reuseaddr,fork OPEN:/dev/null & }
probe() { in_ns "$1" timeout 3 socat -u OPEN:/dev/null "TCP:${pod_ip[$2]}:7000,connect-timeout=2" 2>/dev/null; }
for t in db client api; do listen "$t"; done
sleep 0.5
for t in db client api; do probe worker "$t" || fail "before policy: worker cannot reach $t:7000"; done
ctl apply -f - >/dev/null <<YAML
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: from-web-only, namespace: demo}
spec:
  podSelector: {}
  policyTypes: [Ingress]
  ingress:
    - from: [{podSelector: {matchLabels: {app: web}}}]
YAML
sleep 1
for t in db client api; do
  probe worker "$t" && fail "policy: worker still reaches $t:7000 (on ${pod_node[$t]})"
  probe web "$t" || fail "policy: web cannot reach $t:7000 (on ${pod_node[$t]})"
done
ok "one stored policy enforced on node1, node2 and node3 (web allowed, worker denied)"
# The refused connects were counted by the policy's drop rule, on the node
# of each refused pod (db on node1: `caracal policy drops` there).
in_ns node1 "$caracal" policy drops --json | python3 -c '
import json, sys
drops = json.load(sys.stdin)
sys.exit(0 if any("demo/from-web-only ingress" in d["rule"] and d["packets"] > 0 for d in drops) else 1)' \
  || fail "policy: node1 counted no drop by demo/from-web-only ($(in_ns node1 "$caracal" policy drops 2>&1 | head -5))"
ok "the refused connects were counted by the policy's drop rule (caracal policy drops)"
ctl delete NetworkPolicy demo/from-web-only >/dev/null
sleep 1
for t in db client api; do probe worker "$t" || fail "policy removed: worker still cannot reach $t:7000"; done
ok "policy deleted: every node allows again"

# 5b. (etcd) The datastore unreachable for twice the liveness timeout: the
# agents keep routes, sessions and policy, and take nobody for dead.
if [ -n "$etcd_pid" ]; then
  kill -STOP "$etcd_pid"
  sleep 6
  matrix > "$work/matrix-cut.txt" || { kill -CONT "$etcd_pid"; cat "$work/matrix-cut.txt"; fail "etcd stopped: some pod pairs unreachable"; }
  for n in "${nodes[@]}"; do [ "$(established "$n")" -ge 4 ] || { kill -CONT "$etcd_pid"; fail "etcd stopped: $n lost sessions"; }; done
  kill -CONT "$etcd_pid"
  sleep 4
  for n in "${nodes[@]}"; do
    dead="$("$caracal" status --json --socket "$work/$n.sock" | python3 -c 'import json,sys; print(sum(r["liveness"]=="dead" for r in json.load(sys.stdin)["result"]["cluster"]["nodes"]))')"
    [ "$dead" = 0 ] || fail "after etcd came back, $n takes $dead nodes for dead"
  done
  matrix > "$work/matrix-back2.txt" || { cat "$work/matrix-back2.txt"; fail "etcd back: some pod pairs unreachable"; }
  ok "etcd unreachable for 6 s (twice the liveness timeout): every pair still reachable, every session up, nobody taken for dead"

  # 5c. (etcd) node1's watch connection dies silently (no reset, as when a
  # NAT or firewall forgets it): a proxy on the lan stops forwarding the
  # connections that carry a watch and keeps them open. The agent notices
  # that its own heartbeats no longer come back through the watch,
  # reopens it, and follows the datastore again.
  (exec ip netns exec "$p-lan" python3 -u - >"$work/proxy.log" 2>&1 <<'PY') &
import selectors, signal, socket
sel = selectors.DefaultSelector()
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("10.99.0.254", 2381)); srv.listen(128)
sel.register(srv, selectors.EVENT_READ, None)
peer, watches, frozen = {}, [], []
def freeze(*_):
    for pair in watches:
        for s in pair:
            try: sel.unregister(s)
            except (KeyError, ValueError): pass
        frozen.append(pair)  # kept open: no FIN, no RST
    print(f"froze {len(watches)} watch connections", flush=True)
    watches.clear()
signal.signal(signal.SIGUSR1, freeze)
print("ready", flush=True)
while True:
    for key, _ in sel.select():
        s = key.fileobj
        if s is srv:
            c, _ = srv.accept()
            try: u = socket.create_connection(("10.99.0.254", 2379))
            except OSError:
                c.close()  # etcd down (5d): refused, as etcd itself would be
                continue
            peer[c], peer[u] = u, c
            sel.register(c, selectors.EVENT_READ, "client"); sel.register(u, selectors.EVENT_READ, "etcd")
            continue
        try: data = s.recv(65536)
        except OSError: data = b""
        if not data:
            for x in (s, peer[s]):
                try: sel.unregister(x)
                except (KeyError, ValueError): pass
                x.close()
            continue
        if key.data == "client" and b"/v3/watch" in data: watches.append((s, peer[s]))
        peer[s].sendall(data)
PY
  proxy_pid=$!
  for _ in $(seq 50); do grep -q ready "$work/proxy.log" 2>/dev/null && break; sleep 0.1; done
  kill -TERM "${agent_pid[node1]}"; wait "${agent_pid[node1]}" 2>/dev/null || true
  db_direct="$db"; db="etcd:http://10.99.0.254:2381"
  start_agent node1 "$(cat "$work/node1.extra")"
  db="$db_direct"
  wait_mesh
  revision() { "$caracal" status --json --socket "$work/$1.sock" | python3 -c 'import json,sys; print(json.load(sys.stdin)["result"]["cluster"]["revision"])'; }
  kill -USR1 "$proxy_pid"
  stalled=false
  for _ in $(seq 150); do grep -q "datastore watch stalled" "$work/node1.log" && { stalled=true; break; }; sleep 0.1; done
  $stalled || fail "silent watch: node1 did not notice its watch stalled within 15 s ($(cat "$work/proxy.log"))"
  ctl apply -f - >/dev/null <<YAML
apiVersion: v1
kind: Namespace
metadata: {name: after-stall, labels: {probe: watch}}
YAML
  caught=false
  for _ in $(seq 100); do
    r2="$(revision node2)"; r1="$(revision node1)"
    [ "$r1" -ge "$r2" ] && [ -n "$r2" ] && grep -q "datastore watch reopened\|stalled" "$work/node1.log" && { caught=true; break; }
    sleep 0.1
  done
  $caught || fail "silent watch: node1 at revision $r1 after reopening, node2 at $r2"
  matrix > "$work/matrix-stall.txt" || { cat "$work/matrix-stall.txt"; fail "silent watch: some pod pairs unreachable"; }
  ok "node1's watch connection silently dropped: noticed from its own missing heartbeats, reopened; node1 follows the datastore again (revision $r1, node2 $r2)"

  # 5d. (etcd) etcd killed and restarted on its data: every agent re-watches
  # and follows it again, a pod added after it is routed everywhere, and no
  # address is handed out twice.
  kill -9 "$etcd_pid"; wait "$etcd_pid" 2>/dev/null || true
  sleep 1
  start_etcd
  ctl apply -f - >/dev/null <<YAML
apiVersion: v1
kind: Namespace
metadata: {name: after-restart}
YAML
  add node2 late >/dev/null
  followed=false
  for _ in $(seq 100); do
    r=(); for n in "${nodes[@]}"; do r+=("$(revision "$n")"); done
    [ -n "${r[0]}" ] && [ "${r[0]}" = "${r[1]}" ] && [ "${r[1]}" = "${r[2]}" ] && { followed=true; break; }
    sleep 0.1
  done
  $followed || fail "etcd restarted: the agents' revisions differ (${r[*]})"
  reaches web "${pod_ip[late]}" || fail "etcd restarted: the pod added afterwards (${pod_ip[late]} on node2) is unreachable from node1"
  ctl ipam list --json | python3 -c 'import json,sys; ips = [r["ip"] for r in json.load(sys.stdin)]; sys.exit(0 if len(ips) == len(set(ips)) else 1)' \
    || fail "etcd restarted: an address is held twice"
  ok "etcd killed and restarted: all three agents follow it again (revision ${r[0]}), a pod added afterwards is reachable across nodes, no address held twice"
fi

# 6. Node failure: node3's agent killed and its link cut.
block3="$(ip -n "$p-node1" route show proto 201 | awk '/via 10.99.0.3/ && /\/26/ {print $1; exit}')"
[ -n "$block3" ] || fail "node1 has no route to node3's block"
t0="$(date +%s.%N)"
kill -9 "${agent_pid[node3]}"; ip -n "$p-node3" link set lan0 down
gone=false
for _ in $(seq 100); do
  ip -n "$p-node1" route show proto 201 | grep -q "^$block3 " || { gone=true; break; }
  sleep 0.1
done
took="$(elapsed "$t0")"
$gone || fail "node failure: node1 still routes $block3 to the dead node3 after 10 s"
# With BFD (100 ms x 3) the routes go within a second; without it, within
# the liveness timeout (3 s, a third of the 9 s hold time) and a heartbeat.
bound=4; $bfd && bound=1
python3 -c "import sys; sys.exit(0 if float('$took') <= $bound else 1)" || fail "node failure: took $took s (bound $bound s, BFD $bfd)"
for _ in $(seq 30); do ip -n "$p-node2" route show proto 201 | grep -q "via 10.99.0.3" || break; sleep 0.1; done
ip -n "$p-node2" route show proto 201 | grep -q "via 10.99.0.3" && fail "node failure: node2 still routes via node3"
pods=(web db client)
matrix > "$work/matrix-fail.txt" || { cat "$work/matrix-fail.txt"; fail "node failure: node1 and node2 pods lost each other"; }
ok "node failure (BFD $bfd): node3's routes gone from node1 in $took s (bound $bound s); node1 and node2 pods still reach each other"
for n in node1 node2; do
  [ "$(probe_http "$n" /readyz)" = 200 ] || fail "$n not ready after node3 died: $(in_ns "$n" python3 -c 'import urllib.request as u; print(u.urlopen("http://127.0.0.1:9095/readyz").read())' 2>&1 | tail -1)"
  [ "$(probe_http "$n" /healthz)" = 200 ] || fail "$n not healthy"
done
in_ns node1 python3 -c 'import urllib.request; t = urllib.request.urlopen("http://127.0.0.1:9095/metrics").read().decode(); import sys; sys.exit(0 if "caracal_cluster_nodes" in t and "caracal_bgp_sessions" in t else 1)' \
  || fail "node1's metrics lack caracal_cluster_nodes or caracal_bgp_sessions"
ok "node1 and node2 stay ready and healthy with node3 dead; metrics served"
# 7. The lost node3 is reclaimed once the pool's nodeLossGraceSeconds (5 s)
# have passed: its pods' allocations and endpoints go, its blocks lose
# their affinity (or return to the pool), the sticky claim keeps its
# address, and the sticky pod, rescheduled on node2, gets it back.
api_ip="${pod_ip[api]}"; sticky_ip="${pod_ip[cache-0]}"
reclaimed=false
for _ in $(seq 200); do
  ctl ipam list --json > "$work/ipam-after.json"
  python3 - "$work/ipam-after.json" <<'PY' && { reclaimed=true; break; }
import json, sys
rows = json.load(open(sys.argv[1]))
sys.exit(1 if any(r.get("blockNode") == "node3" or (r.get("holder") or {}).get("node") == "node3" for r in rows) else 0)
PY
  sleep 0.1
done
took="$(elapsed "$t0")"
$reclaimed || { cat "$work/ipam-after.json"; fail "lost node: node3 still holds addresses or blocks $took s after it died"; }
state="$(ctl ipam show "$api_ip" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["state"])')"
[ "$state" != allocated ] || fail "lost node: node3's pod address $api_ip is still allocated"
ctl ipam show "$sticky_ip" --json | python3 -c 'import json,sys; v = json.load(sys.stdin); sys.exit(0 if v["state"] == "claimed" and v["claim"] else 1)' \
  || fail "lost node: the sticky address $sticky_ip lost its claim"
grep -q "lost node's addresses reclaimed" "$work/node1.log" || fail "lost node: node1 (the first live node) did not log the reclaim"
ip netns delete "$p-cache-0"
add node2 cache-0 >/dev/null
[ "${pod_ip[cache-0]}" = "$sticky_ip" ] || fail "lost node: cache-0 on node2 got ${pod_ip[cache-0]}, not its sticky $sticky_ip"
reaches web "$sticky_ip" || fail "lost node: $sticky_ip unreachable from node1 after cache-0 came back on node2"
ok "lost node3 reclaimed $took s after it died (liveness 3 s + grace 5 s): its pods' addresses released, its blocks unaffined; the sticky $sticky_ip kept and reached again on node2"
echo "test-cluster: all checks passed"
