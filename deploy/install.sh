#!/usr/bin/env bash
# Installs Caracal on this node from a built tree (`make release` first):
# the binaries, the CNI network list, the route protocol name, the systemd
# unit and an example agent configuration (never overwriting one that is
# there). Usage: deploy/install.sh [--prefix /usr/local] [--cni-bin /opt/cni/bin]
#        [--cni-conf /etc/cni/net.d] [--no-start]
set -euo pipefail
prefix=/usr/local cni_bin=/opt/cni/bin cni_conf=/etc/cni/net.d start=true
while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) prefix="$2"; shift 2 ;;
    --cni-bin) cni_bin="$2"; shift 2 ;;
    --cni-conf) cni_conf="$2"; shift 2 ;;
    --no-start) start=false; shift ;;
    *) echo "usage: $0 [--prefix DIR] [--cni-bin DIR] [--cni-conf DIR] [--no-start]" >&2; exit 2 ;;
  esac
done
root="$(cd "$(dirname "$0")/.." && pwd)"
caracal="$root/.build/release/caracal"
cni="$root/.build-static/release/caracal-cni"
[ -x "$caracal" ] && [ -x "$cni" ] || { echo "install: build first (make release)" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || { echo "install: run as root" >&2; exit 1; }

install -D -m 0755 "$caracal" "$prefix/bin/caracal"
install -D -m 0755 "$cni" "$cni_bin/caracal-cni"
install -D -m 0644 "$root/deploy/cni/10-caracal.conflist" "$cni_conf/10-caracal.conflist"
install -D -m 0644 "$root/deploy/rt_protos.d/caracal.conf" /etc/iproute2/rt_protos.d/caracal.conf
sed "s|/usr/local/bin/caracal|$prefix/bin/caracal|g" "$root/deploy/systemd/caracal-agent.service" > /etc/systemd/system/caracal-agent.service
install -d -m 0755 /etc/caracal /var/lib/caracal
if [ ! -e /etc/caracal/agent.yaml ]; then
  sed "s/nodeName: node1/nodeName: $(hostname -s | tr 'A-Z' 'a-z')/" "$root/deploy/agent/mesh.yaml" > /etc/caracal/agent.yaml
  echo "install: wrote /etc/caracal/agent.yaml (full mesh; edit nodeAddress if first-found picks the wrong NIC)"
fi
"$prefix/bin/caracal" agent check --config /etc/caracal/agent.yaml
systemctl daemon-reload
if $start; then systemctl enable --now caracal-agent; fi
echo "install: caracal $("$prefix/bin/caracal" --version) installed; status: caracal status"
