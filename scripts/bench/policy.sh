#!/usr/bin/env bash
# bench-policy: Caracal's libnftnl programming vs `nft -f` of Caracal's own
# rendered ruleset, same state, same run, inside a namespace created and
# removed here. Last stdout line: one line of JSON.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
source "$root/scripts/bench/lib.sh"
cd "$root"
swift build -c release --product bench-policy 2>&1 | { grep -E "error|Compiling|complete" || true; } | tail -2 >&2
bin="$(swift build -c release --product bench-policy --show-bin-path)/bench-policy"
ns="crcbench-policy-$$"
work="$(mktemp -d)"
cleanup() { ip netns delete "$ns" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
ip netns add "$ns"
out="$("$bin" --netns "$ns" --work "$work")"
json="$(printf '%s\n' "$out" | tail -1)"
body="$work/section.md"
{
  echo "## bench-policy"
  echo
  echo "Command: \`make bench-policy\` (scripts/bench/policy.sh, $(date -u +%Y-%m-%d), $(nproc) cores, kernel $(uname -r), $(nft --version))."
  echo "Caracal: compile (pure Swift) + one libnftnl transaction. Reference: \`nft -f\` of the text Caracal renders for the same state (full replace), or of the same incremental change (\`add element\`/\`add chain\`/\`add rule\`), including nft's process start."
  echo "Synthetic state: 100 namespaces, pods over 200 app labels, 1000 NetworkPolicies (namespace+pod peers, ports and ranges, every fourth with an egress ipBlock)."
  echo
  echo "| case | Caracal | nft -f | ratio |"
  echo "|---|---|---|---|"
  printf '%s\n' "$out" | grep '^|'
  echo
  echo "Rules evaluated per packet come from the evaluator run over the ruleset read back from the kernel (the same chains the packet traverses); they depend on the policies selecting the two pods, not on the pod count."
  echo
  echo 'Incremental columns: *commit* is building the batch plus the kernel transaction; *diff* is comparing the new intermediate ruleset with the applied one; *recompile* is compiling the whole state again (the agent can later compile only what an endpoint event touches). Even a pod with an existing profile adds two verdict-map elements that goto its profile chains, and the kernel then validates the loops of the whole table at commit (every element of the dispatch maps and the chains they reach), so the commit grows with the pod count instead of staying flat at the cost of plain set elements.'
  echo
  echo "Raw: \`$json\`"
} > "$body"
bench_publish policy "$body"
printf '%s\n' "$out" | grep '^|' >&2
echo "$json"
