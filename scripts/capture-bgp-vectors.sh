#!/usr/bin/env bash
# One-off: captures real BGP messages between BIRD 2 and GoBGP 3 and writes
# them as hex test vectors to Tests/BGPTests/Vectors/ (see README there).
#
# Everything runs inside two network namespaces this script creates
# (crcvec-<pid>-bird, crcvec-<pid>-gobgp) joined by one veth made directly
# between them; both are deleted on exit. Files go to a temporary directory.
# Needs root, bird, gobgpd, tcpdump and tshark.
#
# Sessions (eBGP, AS 65001 BIRD <-> AS 65002 GoBGP), one over IPv4 for
# ipv4-unicast and one over IPv6 for ipv6-unicast, both with graceful
# restart, ADD-PATH both ways and route refresh. Routes carry communities,
# large and extended communities and MED. Both sessions end in a Cease with
# an RFC 9003 shutdown communication (BIRD disables one, GoBGP the other).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
out="$root/Tests/BGPTests/Vectors"
tag="crcvec-$$"
nsb="$tag-bird"; nsg="$tag-gobgp"
tmp="$(mktemp -d)"
cleanup() {
  set +e
  [ -f "$tmp/bird.pid" ] && kill "$(cat "$tmp/bird.pid")" 2>/dev/null
  [ -n "${gobgpd_pid:-}" ] && kill "$gobgpd_pid" 2>/dev/null
  [ -n "${tcpdump_pid:-}" ] && kill "$tcpdump_pid" 2>/dev/null
  sleep 0.5
  ip netns del "$nsb" 2>/dev/null; ip netns del "$nsg" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT

ip netns add "$nsb"; ip netns add "$nsg"
ip -n "$nsb" link set lo up; ip -n "$nsg" link set lo up
ip -n "$nsb" link add vb type veth peer name vg netns "$nsg"
ip -n "$nsb" addr add 10.99.0.1/24 dev vb
ip -n "$nsb" addr add fd00:99::1/64 dev vb nodad
ip -n "$nsg" addr add 10.99.0.2/24 dev vg
ip -n "$nsg" addr add fd00:99::2/64 dev vg nodad
ip -n "$nsb" link set vb up; ip -n "$nsg" link set vg up

cat >"$tmp/bird.conf" <<EOF
router id 10.99.0.1;
protocol device {}
protocol static s4 {
  ipv4;
  route 10.1.0.0/24 blackhole { bgp_community.add((65001,100)); bgp_large_community.add((65001,1,2)); bgp_ext_community.add((rt,65001,7)); };
  route 10.1.1.0/24 blackhole { bgp_med = 50; };
  route 10.1.2.1/32 blackhole;
}
protocol static s6 {
  ipv6;
  route 2001:db8:1::/48 blackhole { bgp_community.add((65001,200)); bgp_large_community.add((65001,3,4)); };
  route 2001:db8:2::1/128 blackhole;
}
template bgp peer {
  hold time 9; keepalive time 3; connect delay time 1; connect retry time 5; error wait time 1, 30;
  graceful restart on; enable route refresh on;
}
protocol bgp g4 from peer {
  local 10.99.0.1 as 65001; neighbor 10.99.0.2 as 65002;
  ipv4 { import all; export where source = RTS_STATIC; add paths on; };
}
protocol bgp g6 from peer {
  local fd00:99::1 as 65001; neighbor fd00:99::2 as 65002;
  ipv6 { import all; export where source = RTS_STATIC; add paths on; };
}
EOF

afi() {  # name addr local
  cat <<EOF
[[neighbors]]
  [neighbors.config]
    neighbor-address = "$2"
    peer-as = 65001
  [neighbors.timers.config]
    connect-retry = 5
    hold-time = 9
    keepalive-interval = 3
  [neighbors.transport.config]
    local-address = "$3"
  [neighbors.graceful-restart.config]
    enabled = true
    restart-time = 120
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "$1"
    [neighbors.afi-safis.mp-graceful-restart.config]
      enabled = true
    [neighbors.afi-safis.add-paths.config]
      receive = true
      send-max = 4
EOF
}
{
  printf '[global.config]\n  as = 65002\n  router-id = "10.99.0.2"\n\n'
  afi ipv4-unicast 10.99.0.1 10.99.0.2
  afi ipv6-unicast fd00:99::1 fd00:99::2
} >"$tmp/gobgp.toml"
gobgpd -d -f "$tmp/gobgp.toml" >/dev/null

ip netns exec "$nsb" tcpdump -i vb -U -w "$tmp/cap.pcap" 'tcp port 179' 2>/dev/null &
tcpdump_pid=$!
sleep 1
sock="unix://$tmp/gobgp.sock"
ip netns exec "$nsg" gobgpd -f "$tmp/gobgp.toml" --api-hosts "$sock" -p --pprof-disable >"$tmp/gobgpd.log" 2>&1 &
gobgpd_pid=$!
ip netns exec "$nsb" bird -c "$tmp/bird.conf" -s "$tmp/bird.ctl" -P "$tmp/bird.pid"
gobgp() { command gobgp --target "$sock" "$@"; }

# Wait until both sessions are Established (GoBGP state 6).
for _ in $(seq 1 60); do
  n=$(gobgp -j neighbor 2>/dev/null | python3 -c 'import json,sys; print(sum(1 for p in json.load(sys.stdin) if p["state"].get("session_state")==6))' 2>/dev/null || echo 0)
  [ "$n" = 2 ] && break
  sleep 0.5
done
[ "$n" = 2 ] || { echo "sessions did not come up" >&2; cat "$tmp/gobgpd.log" >&2; exit 1; }

gobgp global rib add -a ipv4 10.2.0.0/24 nexthop 10.99.0.2 community 65002:100 large-community 65002:1:2 med 20
gobgp global rib add -a ipv4 10.2.1.0/24 nexthop 10.99.0.2 community no-export
gobgp global rib add -a ipv6 2001:db8:20::/48 nexthop fd00:99::2 community 65002:600
sleep 4  # a keepalive or two each way
gobgp global rib del -a ipv4 10.2.1.0/24
ip netns exec "$nsb" birdc -s "$tmp/bird.ctl" reload in g4 >/dev/null  # ROUTE-REFRESH
sleep 2
ip netns exec "$nsb" birdc -s "$tmp/bird.ctl" disable g4 \"caracal vector capture\" || true
gobgp neighbor fd00:99::1 shutdown --reason "gobgp shutdown for vectors"
sleep 2
kill "$tcpdump_pid"; wait "$tcpdump_pid" 2>/dev/null || true; tcpdump_pid=

# Reassemble each TCP direction and split it into BGP messages.
tshark -r "$tmp/cap.pcap" -Y 'tcp.len>0' -T fields -E separator=, \
  -e tcp.stream -e ip.src -e ipv6.src -e tcp.seq_raw -e tcp.payload >"$tmp/segments.csv"
python3 - "$tmp/segments.csv" "$out" <<'PY'
import sys, os, collections, struct
segs, out = sys.argv[1], sys.argv[2]
streams = collections.OrderedDict()
for line in open(segs):
    stream, v4, v6, seq, payload = line.strip().split(",")
    src = v4 or v6
    d = streams.setdefault((stream, src), {})
    d.setdefault(int(seq), bytes.fromhex(payload.replace(":", "")))
names = {"10.99.0.1": "bird", "fd00:99::1": "bird", "10.99.0.2": "gobgp", "fd00:99::2": "gobgp"}
types = {1: "open", 2: "update", 3: "notification", 4: "keepalive", 5: "route-refresh"}
def messages(chunks):
    data = b"".join(chunks[s] for s in sorted(chunks))
    i = 0
    while i + 19 <= len(data):
        n = struct.unpack("!H", data[i+16:i+18])[0]
        yield data[i:i+n]; i += n
def addpath_sends(open_msg):
    # (afi, safi) pairs this speaker sends path IDs for (mode & 2).
    res = {}
    body = open_msg[29:]
    i = 0
    while i < len(body):
        t, l = body[i], body[i+1]; p = body[i+2:i+2+l]; i += 2 + l
        j = 0
        while t == 2 and j < len(p):
            c, cl = p[j], p[j+1]; v = p[j+2:j+2+cl]; j += 2 + cl
            if c == 69:
                for k in range(0, len(v), 4):
                    res[(v[k] << 8 | v[k+1], v[k+2])] = v[k+3]
    return res
os.makedirs(out, exist_ok=True)
for f in os.listdir(out):
    if f.endswith(".hex"): os.remove(f)
by_stream = collections.defaultdict(dict)
for (stream, src), chunks in streams.items():
    by_stream[stream][src] = list(messages(chunks))
written = 0
for stream, sides in by_stream.items():
    opens = {src: next((m for m in msgs if m[18] == 1), None) for src, msgs in sides.items()}
    for src, msgs in sides.items():
        peer = next(s for s in sides if s != src) if len(sides) == 2 else None
        mine = addpath_sends(opens[src]) if opens.get(src) else {}
        theirs = addpath_sends(opens[peer]) if peer and opens.get(peer) else {}
        addpath = sorted({ {1: "ipv4", 2: "ipv6"}[afi] for (afi, safi), mode in mine.items()
                           if mode & 2 and theirs.get((afi, safi), 0) & 1 and afi in (1, 2) })
        fam = "v6" if ":" in src else "v4"
        seen, counts = set(), collections.Counter()
        for m in msgs:
            kind = types.get(m[18], "type%d" % m[18])
            if m in seen or counts[kind] >= 4: continue
            seen.add(m); counts[kind] += 1
            name = f"{names.get(src, 'peer')}-{fam}-{counts[kind]}-{kind}.hex"
            with open(os.path.join(out, name), "w") as fh:
                fh.write(f"# {names.get(src)} -> peer over IPv{fam[1]} (captured by scripts/capture-bgp-vectors.sh)\n")
                fh.write(f"# context: four-octet-as add-path={','.join(addpath) or 'none'}\n")
                fh.write(m.hex() + "\n")
            written += 1
print(f"wrote {written} vectors to {out}")
PY
