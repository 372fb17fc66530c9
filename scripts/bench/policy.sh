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
  echo "Caracal: compile (pure Swift) + one libnftnl transaction. Reference: \`nft -f\` of the text Caracal renders for the same state (full replace), or of the same incremental change (\`add element\`/\`add chain\`/\`add rule\`), including nft's process start (spawned directly inside the namespace: no shell and no \`ip netns exec\`, which alone adds ~3 ms)."
  echo "Synthetic state: 100 namespaces, pods over 200 app labels, 1000 NetworkPolicies (namespace+pod peers that select every pod of one app, so each peer set holds 5 pods at 1000 pods and 50 at 10000; ports and ranges; every fourth with an egress ipBlock)."
  echo
  echo "| case | Caracal | nft -f | ratio |"
  echo "|---|---|---|---|"
  printf '%s\n' "$out" | grep '^|'
  echo
  echo "Rules evaluated per packet: *evaluator* runs \`explain\`'s evaluator over the ruleset read back from the kernel; *kernel nftrace* sends a real TCP SYN between two real pods (namespaces behind veths, as the CNI plugin wires them) with \`meta nftrace\` set by a rule in a separate table, and counts, from \`nft -a monitor trace\`, the rules of table caracal the packet passed (per chain entered: the position of the last rule that decided, or the whole chain when its policy applied). Both depend on the policies selecting the two pods, not on the pod count."
  echo
  echo 'Incremental columns: *commit* is building the batches plus the kernel transactions plus setting the new veth'"'"'s interface group (RTM_NEWLINK; its share is given); *diff* is comparing the new intermediate ruleset with the applied one; *incremental compile* is `IncrementalPolicyCompiler.upsert` of the new pod (only the selections, sets, profile and group it touches), checked equal to the *full recompile* of the same state, whose time is given for comparison. Dispatch is by interface group with one verdict element per profile, so a pod with an existing profile adds no verdict element and the kernel does not validate the table; a new profile adds one chain and one element per map (validation over profiles, not pods). Each added pod has a real veth; the other synthetic pods have none (20k netdevs do not fit the bench), and the state passed to the next apply treats their groups as set. The nft -f reference for an incremental change also runs `ip link set dev … group …`.'
  echo
  echo "Full apply columns: *compile with encoding alongside* is \`NFTablesProgrammer.replace(compiling:for:)\` compiling (pure Swift) while a second core encodes each set and chain with libnftnl as the compiler finishes it; *rest of encoding* is what remains after the compile (the last objects, the base chains and maps; the transaction is then sent from the encoders' buffers in place); *kernel transaction* is sendmsg to the last ACK; the total also holds reading the table state and link groups (on a third thread during the compile) and setting the groups (during the transaction, as no table is in force). One first apply (not counted) gives the text for nft; then twenty-five Caracal applies and twenty-five \`nft -f\` loads alternate, each from an empty namespace table; the ratio is of the medians, and *pairs* gives the quartiles of the ratios of each apply to the nft load after it."
  echo
  echo "Raw: \`$json\`"
} > "$body"
bench_publish policy "$body"
printf '%s\n' "$out" | grep '^|' >&2
echo "$json"
