#!/usr/bin/env bash
# Installs the Debian packages Caracal needs. Idempotent and quiet when all
# are present. Needs root. Usage: install-deps.sh [build|test|demo|bench]
set -euo pipefail
profile="${1:-test}"

# python3: the demo and the benchmarks parse JSON and write their tables with it.
build_pkgs=(pkg-config libmnl-dev libnftnl-dev libsqlite3-dev iproute2 nftables make gcc python3)
test_pkgs=(bird2 gobgpd etcd-server etcd-client containernetworking-plugins tshark tcpdump socat netcat-openbsd iputils-ping time)
case "$profile" in
  build|demo) pkgs=("${build_pkgs[@]}") ;;
  test|bench) pkgs=("${build_pkgs[@]}" "${test_pkgs[@]}") ;;
  *) echo "usage: $0 [build|test|demo|bench]" >&2; exit 2 ;;
esac

if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: must run as root (apt-get, network namespaces)" >&2
  exit 1
fi

missing=()
for p in "${pkgs[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "install-deps: installing ${missing[*]}" >&2
# tshark asks whether non-root users may capture; answer it up front.
echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
