#!/usr/bin/env bash
# The README's main job. Grows into the 3-node cluster demo once the agent
# exists; until then it runs the most complete pieces that work.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bin="$(cd "$root" && swift build -c release --show-bin-path)"
echo "== caracal $("$bin/caracal" --version)"
echo "== caracal-cni VERSION"
CNI_COMMAND=VERSION "$bin/caracal-cni" </dev/null
