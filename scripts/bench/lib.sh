# Shared by scripts/bench/*.sh. Source it; do not run it.
# bench_publish NAME MARKDOWN_FILE: replaces the section "## bench-NAME" of
# docs/benchmarks.md with the file's contents (which must start with that
# heading), or appends it when absent. Keeps the other sections as they are.
bench_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
bench_publish() {
  local name="$1" body="$2" doc="$bench_root/docs/benchmarks.md"
  [ -f "$doc" ] || printf '# Benchmarks\n\nEach section is written by `make bench-NAME`, which measures Caracal and its reference in the same run on the same machine. Compare ratios, not absolute figures: these machines are shared and noisy (2 cores).\n' > "$doc"
  python3 - "$doc" "$name" "$body" <<'PY'
import sys, re
doc, name, body = sys.argv[1], sys.argv[2], open(sys.argv[3]).read().rstrip() + "\n"
text = open(doc).read()
head = f"## bench-{name}\n"
parts = re.split(r"(?m)^(?=## bench-)", text)
out, found = [], False
for p in parts:
    if p.startswith(head):
        out.append(body + "\n"); found = True
    else:
        out.append(p)
if not found:
    if not out[-1].endswith("\n\n"): out[-1] = out[-1].rstrip("\n") + "\n\n"
    out.append(body)
open(doc, "w").write("".join(out).rstrip() + "\n")
PY
}

# bench_etcd NAMESPACE DIR CLI: starts a one-member etcd in a new network
# namespace of that name, its data and its client socket in DIR, reached at
# unix://DIR/etcd.sock:0 (no route into the namespace); returns once the
# CLI reads through it. Sets bench_etcd_pid.
bench_etcd() {
  local ns="$1" dir="$2" cli="$3"
  ip netns add "$ns"
  ip -n "$ns" link set lo up
  # etcd takes a unix URL's host as a path relative to its working directory.
  (cd "$dir" && exec ip netns exec "$ns" etcd --name bench --data-dir "$dir/etcd" \
    --listen-client-urls unix://etcd.sock:0 --advertise-client-urls unix://etcd.sock:0 \
    --listen-peer-urls unix://peer.sock:0 --initial-advertise-peer-urls unix://peer.sock:0 \
    --initial-cluster bench=unix://peer.sock:0 --logger zap --log-outputs "$dir/etcd.log") &
  bench_etcd_pid=$!
  for _ in $(seq 100); do "$cli" ipam pools --datastore "etcd:unix://$dir/etcd.sock:0" >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "etcd did not start: $(tail -n 3 "$dir/etcd.log")" >&2; return 1
}
