#!/usr/bin/env bash
# Installs the Debian packages Caracal needs. Idempotent and quiet when all
# are present. Needs root. Usage: install-deps.sh [build|test|demo|bench]
# `install-deps.sh --list PROFILE` prints the profile's packages (no root).
# A profile names every package whose commands it runs, even one that a
# listed package pulls in: scripts/check-commands.sh proves it.
set -euo pipefail
list=false
if [ "${1:-}" = --list ]; then list=true; shift; fi
profile="${1:-test}"

# python3: the demo and the benchmarks parse JSON and write their tables with
# it (python3-minimal owns /usr/bin/python3).
build_pkgs=(pkg-config libmnl-dev libnftnl-dev libsqlite3-dev iproute2 nftables make gcc python3 python3-minimal)
# What caracal-cni and caracal load at run time (docs/cni.md, "Building for
# production"): a node that only runs the binaries needs these and no -dev.
runtime_pkgs=(libmnl0 libnftnl11 libsqlite3-0 libstdc++6)
build_pkgs+=("${runtime_pkgs[@]}")
# scripts/demo.sh: ping across nodes, socat for the policy probes, sysctl
# (procps) for forwarding in each node, dot (graphviz) for the cluster picture,
# etcd and etcdctl for `--datastore etcd`.
demo_pkgs=(iputils-ping socat procps graphviz etcd-server etcd-client)
# scripts/bench/*.sh and the bench programs: the reference ptp and host-local
# plugins, sysctl (procps), /usr/bin/time, BIRD (bench-bgp-rib's and
# bench-agent's reference), etcd and etcdctl (bench-cni-etcd, bench-datastore, and
# scripts/cluster-lib.sh), ping (bench-agent's probes).
bench_pkgs=(containernetworking-plugins procps time bird2 etcd-server etcd-client iputils-ping)
# The tests (the sqlite3 CLI, openssl for the etcd TLS test's certificates,
# tshark, text2pcap from wireshark-common) and
# scripts/capture-bgp-vectors.sh (bird2, gobgpd, tcpdump, tshark). test also
# installs demo's and bench's lists (the tests run ping and sysctl too), so
# that the check in `make test` finds every profile's commands on the machine.
test_pkgs=(bird2 gobgpd etcd-server etcd-client openssl tshark wireshark-common tcpdump netcat-openbsd sqlite3 conntrack bgpdump)
# scripts/test-podman.sh: podman 4.3 with its CNI backend (it runs conmon,
# crun, and catatonit reaps for the script), busybox-static as the
# containers' rootfs, nsenter/unshare/mountpoint (util-linux), mount/umount.
test_pkgs+=(podman conmon crun catatonit busybox-static util-linux mount)
case "$profile" in
  build) pkgs=("${build_pkgs[@]}") ;;
  demo) pkgs=("${build_pkgs[@]}" "${demo_pkgs[@]}") ;;
  bench) pkgs=("${build_pkgs[@]}" "${bench_pkgs[@]}") ;;
  test) pkgs=("${build_pkgs[@]}" "${demo_pkgs[@]}" "${bench_pkgs[@]}" "${test_pkgs[@]}") ;;
  *) echo "usage: $0 [--list] [build|test|demo|bench]" >&2; exit 2 ;;
esac
if $list; then printf '%s\n' "${pkgs[@]}" | sort -u; exit 0; fi

missing=()
for p in "${pkgs[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

# Only installing needs root (`make unit` runs without it once all is there).
if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing ${missing[*]}; run as root to install them" >&2
  exit 1
fi

echo "install-deps: installing ${missing[*]}" >&2
# tshark asks whether non-root users may capture; answer it up front.
echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
