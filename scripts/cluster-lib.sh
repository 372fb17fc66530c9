# Shared by scripts/demo.sh and scripts/test-cluster.sh: a cluster of
# Caracal nodes as network namespaces on one bridge, an agent in each, and
# pods added through caracal-cni as a runtime calls it. The caller sets
# p (namespace prefix), work (temp dir), db (datastore file), caracal, cni
# (binaries) and nodes (names); everything is created in namespaces $p-*.
# With db set to an etcd: URL (start_etcd starts one on the lan), the CNI
# config points at it; `ctl` runs the CLI where it reaches either.
declare -A agent_pid pod_ip pod_node
sts=',"statefulSetClaims":{"namespaces":["demo"]}'
cni_datastore() { # the CNI network config's datastore object
  if [[ "$db" == etcd:* ]]; then echo "{\"type\":\"etcd\",\"endpoints\":[\"${db#etcd:}\"]}"; else echo "{\"path\":\"$db\"}"; fi
}
ctl() { ip netns exec "$p-lan" "$caracal" "$@"; }
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
in_ns() { local ns="$1"; shift; ip netns exec "$p-$ns" "$@"; }

make_nodes() { # the lan bridge and one namespace per node, 10.99.0.N and fd99::N
  local i=0 n
  ip netns add "$p-lan"; ip -n "$p-lan" link set lo up
  ip -n "$p-lan" link add br0 type bridge; ip -n "$p-lan" link set br0 up
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
}

start_agent() { # node [extra spec.cluster YAML] (kept for restarts)
  local n="$1"
  printf '%s' "${2:-}" > "$work/$n.extra"
  cat > "$work/$n.yaml" <<YAML
apiVersion: caracal.io/v1alpha1
kind: AgentConfiguration
metadata: {name: $n}
spec:
  cluster:
    nodeName: $n
    datastore: $db
    nodeAddress: {ipv4: interface=lan0, ipv6: interface=lan0}
${2:-}
  control: {socket: $work/$n.sock}
  metrics: {address: "127.0.0.1:9095"}
YAML
  # exec: the pid is the agent's own (signals reach it, not a subshell).
  (exec ip netns exec "$p-$n" "$caracal" agent --config "$work/$n.yaml" >>"$work/$n.log" 2>&1) &
  agent_pid[$n]=$!
}
established() { # node → number of Established sessions
  "$caracal" status --json --socket "$work/$1.sock" 2>/dev/null \
    | python3 -c 'import json,sys; print(sum(p["state"]=="Established" for p in json.load(sys.stdin)["result"]["bgp"]["peers"]))' 2>/dev/null || echo 0
}
wait_sessions() { # node count: until the node has that many Established sessions (20 s)
  for _ in $(seq 100); do
    [ "$(established "$1")" -ge "$2" ] && return 0
    sleep 0.2
  done
  echo "$1: $(established "$1") sessions Established, expected $2; agent logs in $work" >&2; tail -n 5 "$work"/*.log >&2; return 1
}
wait_mesh() { # every node peers with every other, over IPv4 and IPv6
  local n
  for n in "${nodes[@]}"; do wait_sessions "$n" $((2 * (${#nodes[@]} - 1))) || exit 1; done
}

conf() { # node pod [extra ipam json]
  cat <<JSON
{"cniVersion":"1.1.0","name":"caracal","type":"caracal-cni","mtu":1500,"nodeName":"$1","agentSocket":"$work/$1.sock",
 "datastore":$(cni_datastore),"ipam":{"type":"caracal","pools":["demo"]${3:-}},
 "args":{"cni":{"labels":[{"key":"app","value":"$2"}]}}}
JSON
}
cni_call() { # command node pod container [extra ipam json]
  conf "$2" "$3" "${5:-}" | in_ns "$2" env CNI_COMMAND="$1" CNI_CONTAINERID="$4" CNI_NETNS="/run/netns/$p-$3" \
    CNI_IFNAME=eth0 CNI_PATH=/usr/lib/cni CNI_ARGS="IgnoreUnknown=1;K8S_POD_NAMESPACE=demo;K8S_POD_NAME=$3" "$cni"
}
ip_of() { python3 -c 'import json,sys; print(json.load(sys.stdin)["ips"][0]["address"].split("/")[0])'; }
add() { # node pod
  ip netns add "$p-$2"
  pod_ip[$2]="$(cni_call ADD "$1" "$2" "ctr-$2" "$sts" | ip_of)"
  pod_node[$2]=$1
  echo "$1: demo/$2 ${pod_ip[$2]}"
}
wait_routes() { # until node1 routes to every pod in $pods (BGP convergence)
  for _ in $(seq 50); do
    local ok=true
    for q in "${pods[@]}"; do ip -n "$p-node1" route get "${pod_ip[$q]}" 2>/dev/null | grep -q blackhole && ok=false; done
    $ok && return 0; sleep 0.2
  done
}
reaches() { # pod ip: true once the pod pings the address (10 s at most)
  for _ in $(seq 50); do in_ns "$1" ping -c 1 -W 1 -q "$2" >/dev/null 2>&1 && return 0; sleep 0.2; done
  return 1
}
matrix() { # pings from every pod in $pods to every other; prints the matrix, returns the failures
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
probe_http() { # node path → the HTTP status of the agent's metrics endpoint (inside the node)
  in_ns "$1" python3 -c 'import sys, urllib.request, urllib.error
try: print(urllib.request.urlopen("http://127.0.0.1:9095" + sys.argv[1], timeout=3).status)
except urllib.error.HTTPError as e: print(e.code)
except Exception: print(0)' "$2"
}
restart_under_ping() { # node from-pod to-pod interval seconds out: restarts node's agent (SIGTERM, start) under a ping
  local n="$1" extra=""
  [ -f "$work/$n.extra" ] && extra="$(cat "$work/$n.extra")"
  in_ns "$2" ping -i "$4" -w "$5" -q "${pod_ip[$3]}" > "$6" 2>&1 & local pinger=$!
  sleep 1
  kill -TERM "${agent_pid[$n]}"; wait "${agent_pid[$n]}" 2>/dev/null || true
  start_agent "$n" "$extra"
  wait "$pinger" || true
}
ping_counts() { # ping output file → "sent received"
  grep -oE '[0-9]+ packets transmitted, [0-9]+ received' "$1" | awk '{print $1, $4}'
}

etcd_pid=""
start_etcd() { # an etcd on the lan bridge (10.99.0.254), after make_nodes; sets db (again: same data)
  ip -n "$p-lan" addr show dev br0 | grep -q "10.99.0.254/" || ip -n "$p-lan" addr add 10.99.0.254/24 dev br0
  (exec ip netns exec "$p-lan" etcd --name cclu --data-dir "$work/etcd" --listen-client-urls http://10.99.0.254:2379 \
    --advertise-client-urls http://10.99.0.254:2379 --listen-peer-urls http://127.0.0.1:2380 \
    --initial-advertise-peer-urls http://127.0.0.1:2380 --initial-cluster cclu=http://127.0.0.1:2380 >>"$work/etcd.log" 2>&1) &
  etcd_pid=$!
  db="etcd:http://10.99.0.254:2379"
  export CARACAL_DATASTORE="$db"
  for _ in $(seq 50); do ip netns exec "$p-lan" etcdctl --dial-timeout 1s --command-timeout 1s --endpoints http://10.99.0.254:2379 endpoint health >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "etcd did not start: $(tail -n 3 "$work/etcd.log")" >&2; return 1
}
