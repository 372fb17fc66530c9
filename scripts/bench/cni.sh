#!/usr/bin/env bash
# bench-cni: ADD and DEL latency (p50/p99) of caracal-cni against Debian's
# reference ptp + host-local, in the same run, for 100 pods sequentially and
# with 2 concurrent callers. Both plugins run inside a network namespace
# that acts as the node (the driver enters it with setns, so the figures
# hold only the plugins' own time); pods are 100 more namespaces.
# Usage: scripts/bench/cni.sh [PODS]   (run as root; wrap in the swift lock)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$bench_root"
pods="${1:-100}"
ref_dir=/usr/lib/cni
[ -x "$ref_dir/ptp" ] && [ -x "$ref_dir/host-local" ] || { echo "bench-cni: needs containernetworking-plugins" >&2; exit 1; }

# The binary as shipped (scripts/build-cni.sh: release, static Swift
# runtime, non-PIE), built the same way as by `make release`.
bin="$(scripts/build-cni.sh 2> >(grep -E "error|complete" >&2 || true))"
# The plugin never creates its datastore: the admin CLI does (release build).
swift build -c release --product caracal 2> >(grep -E "error|complete" >&2 || true) >&2
cli="$(swift build -c release --show-bin-path)/caracal"

work="$(mktemp -d)"
prefix="crcbench-$$"
cleanup() {
  for ns in $(ip netns list | awk '{print $1}' | grep "^$prefix-" || true); do ip netns delete "$ns" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
ip netns add "$prefix-node"
ip -n "$prefix-node" link set lo up
# One pod namespace per plugin per pod: the two plugins run interleaved.
for i in $(seq 0 $((pods - 1))); do ip netns add "$prefix-reference$i"; ip netns add "$prefix-caracal$i"; done

out="$work/result.json"
burst=100
for i in $(seq 0 $((burst - 1))); do ip netns add "$prefix-breference$i"; ip netns add "$prefix-bcaracal$i"; done

python3 - "$bin" "$ref_dir" "$prefix" "$pods" "$work" "$out" "$cli" "$burst" <<'PY'
import ctypes, json, os, statistics, subprocess, sys, threading, time
bin_, ref_dir, prefix, pods, work, out, cli, burst = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5], sys.argv[6], sys.argv[7], int(sys.argv[8])
libc = ctypes.CDLL("libc.so.6", use_errno=True)
fd = os.open(f"/run/netns/{prefix}-node", os.O_RDONLY)
if libc.setns(fd, 0x40000000) != 0:  # CLONE_NEWNET: children inherit the node namespace
    sys.exit("setns failed")

def configs(round_):
    db = f"{work}/caracal-{round_}.db"
    # The admin's pool (this creates the datastore too), as on a real node.
    subprocess.run([cli, "ipam", "pool", "create", "bench", "--cidr", f"10.{240 + round_}.0.0/16", "--cooldown", "0",
                    "--datastore", db], check=True, capture_output=True)
    car = {"cniVersion": "1.0.0", "name": "caracal", "type": "caracal-cni", "mtu": 1400, "nodeName": "bench",
           "datastore": {"path": db}, "ipam": {"type": "caracal", "pools": ["bench"]}}
    ref = {"cniVersion": "1.0.0", "name": f"refnet{round_}", "type": "ptp", "mtu": 1400, "ipMasq": False,
           "ipam": {"type": "host-local", "ranges": [[{"subnet": f"10.{230 + round_}.0.0/16"}]], "dataDir": f"{work}/host-local-{round_}"}}
    return {"caracal": (bin_, json.dumps(car).encode()), "reference": (f"{ref_dir}/ptp", json.dumps(ref).encode())}

def call(name, plugin, stdin, command, i, ns=None):
    env = {"CNI_COMMAND": command, "CNI_CONTAINERID": f"bench{i}", "CNI_NETNS": f"/run/netns/{prefix}-{ns or name}{i}",
           "CNI_IFNAME": "eth0", "CNI_PATH": ref_dir,
           "CNI_ARGS": f"IgnoreUnknown=1;K8S_POD_NAMESPACE=bench;K8S_POD_NAME=pod{i}"}
    t0 = time.perf_counter()
    r = subprocess.run([plugin], input=stdin, env=env, capture_output=True)
    dt = (time.perf_counter() - t0) * 1000
    if r.returncode != 0:
        sys.exit(f"{plugin} {command} pod {i} failed: {r.stdout.decode()} {r.stderr.decode()}")
    return dt

def run_pair(cfg, command, callers):
    """Both plugins, interleaved call by call (alternating which goes
    first), so that both see the same machine load: figures from a shared,
    noisy 2-core machine stay comparable."""
    lat = {"reference": [None] * pods, "caracal": [None] * pods}
    def worker(k):
        for i in range(k, pods, callers):
            order = ["reference", "caracal"] if i % 2 == 0 else ["caracal", "reference"]
            for name in order:
                plugin, stdin = cfg[name]
                lat[name][i] = call(name, plugin, stdin, command, i)
    threads = [threading.Thread(target=worker, args=(k,)) for k in range(callers)]
    for t in threads: t.start()
    for t in threads: t.join()
    return lat

def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]

results = {}
for round_, callers in enumerate([1, 2]):
    cfg = configs(round_)
    add = run_pair(cfg, "ADD", callers)
    dele = run_pair(cfg, "DEL", callers)
    for name in ("reference", "caracal"):
        a, d = add[name], dele[name]
        results[f"{name}_{callers}"] = {
            "add_p50_ms": round(pct(a, 50), 2), "add_p99_ms": round(pct(a, 99), 2),
            "del_p50_ms": round(pct(d, 50), 2), "del_p99_ms": round(pct(d, 99), 2),
            # Calls are interleaved, so rates come from the mean latency.
            "add_pods_per_s": round(callers * 1000 / statistics.mean(a), 1),
            "del_pods_per_s": round(callers * 1000 / statistics.mean(d), 1)}
# A burst: `burst` pods scheduled at once on one node (calico#5612 waited
# minutes for 100): every ADD starts together; the time until the last
# answers. Each plugin bursts alone (one after the other, the order
# alternating with nothing else running), so each has both cores.
for round_, first in ((2, "caracal"), (3, "reference")):
    cfg = configs(round_)
    order = [first, "reference" if first == "caracal" else "caracal"]
    for name in order:
        plugin, stdin = cfg[name]
        errors, lat = [], [None] * burst
        def one(i):
            try: lat[i] = call(name, plugin, stdin, "ADD", i, ns=f"b{name}")
            except SystemExit as e: errors.append(str(e))
        threads = [threading.Thread(target=one, args=(i,)) for i in range(burst)]
        t0 = time.perf_counter()
        for t in threads: t.start()
        for t in threads: t.join()
        wall = time.perf_counter() - t0
        for i in range(burst): call(name, plugin, stdin, "DEL", i, ns=f"b{name}")
        results.setdefault(f"burst_{name}", []).append({"all_added_s": round(wall, 2), "errors": len(errors),
            "add_p99_ms": round(pct([x for x in lat if x is not None], 99), 1) if any(lat) else None})
json.dump(results, open(out, "w"))
PY

python3 - "$out" "$pods" "$work/section.md" <<'PY'
import json, sys
r, pods, md = json.load(open(sys.argv[1])), int(sys.argv[2]), sys.argv[3]
lines = ["## bench-cni", "",
         f"ADD and DEL of {pods} pods, caracal-cni (built as shipped by scripts/build-cni.sh: release, static Swift runtime, non-PIE; ptp-style veth + IPAM in SQLite) against Debian's reference `ptp` + `host-local` (containernetworking-plugins 1.1.1), same run, both running inside a network namespace acting as the node. Latency per call as seen by the caller (process start included); the two plugins' calls are interleaved one by one so both see the same load; pods/s = callers / mean latency.", "",
         "| callers | plugin | ADD p50 | ADD p99 | DEL p50 | DEL p99 | ADD pods/s | DEL pods/s |", "|---|---|---|---|---|---|---|---|"]
summary = {"bench": "cni", "pods": pods}
for c in (1, 2):
    for name in ("reference", "caracal"):
        x = r[f"{name}_{c}"]
        label = "ptp + host-local" if name == "reference" else "caracal-cni"
        lines.append(f"| {c} | {label} | {x['add_p50_ms']} ms | {x['add_p99_ms']} ms | {x['del_p50_ms']} ms | {x['del_p99_ms']} ms | {x['add_pods_per_s']} | {x['del_pods_per_s']} |")
    ca, re_ = r[f"caracal_{c}"], r[f"reference_{c}"]
    summary[f"callers{c}"] = {"caracal": ca, "reference": re_,
        "add_p50_ratio": round(ca["add_p50_ms"] / re_["add_p50_ms"], 3),
        "add_p99_ratio": round(ca["add_p99_ms"] / re_["add_p99_ms"], 3),
        "del_p50_ratio": round(ca["del_p50_ms"] / re_["del_p50_ms"], 3)}
lines += ["", "100 pods scheduled at once on one node (every ADD started together; time until the last answered; two bursts per plugin, each alone on the machine; goal: all within 15 s, no error):", "",
          "| plugin | all added (s) | errors | ADD p99 |", "|---|---|---|---|"]
for name in ("reference", "caracal"):
    label = "ptp + host-local" if name == "reference" else "caracal-cni"
    for b in r[f"burst_{name}"]:
        lines.append(f"| {label} | {b['all_added_s']} | {b['errors']} | {b['add_p99_ms']} ms |")
summary["burst100"] = {name: {"all_added_s": max(b["all_added_s"] for b in r[f"burst_{name}"]),
                              "errors": sum(b["errors"] for b in r[f"burst_{name}"])} for name in ("reference", "caracal")}
lines += ["", "Ratios (caracal / reference, lower is better; goal: ADD ≤ 0.7):", ""]
for c in (1, 2):
    s = summary[f"callers{c}"]
    lines.append(f"- {c} caller(s): ADD p50 {s['add_p50_ratio']}, ADD p99 {s['add_p99_ratio']}, DEL p50 {s['del_p50_ratio']}")
lines += ["", "Command: `make bench-cni` (scripts/bench/cni.sh)."]
open(md, "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
print(json.dumps(summary, separators=(",", ":")))
PY
bench_publish cni "$work/section.md"
