#!/usr/bin/env bash
# Builds caracal-cni the one way it ships (docs/cni.md "Building for
# production"): release, the Swift runtime linked statically, a non-PIE
# executable. `make release`, `make bench-cni` and the demo all use this
# script. It builds in its own scratch path (.build-static), so the rest of
# the release build keeps its default flags. Prints the binary's path on
# stdout; the build log goes to stderr. Wrap it in the swift lock.
set -euo pipefail
cd "$(dirname "$0")/.."
swift="${SWIFT:-swift}"
# No $ORIGIN run path: a root process must not load libraries from its own
# directory (the node's CNI bin dir), and ld.so then stops probing there
# for each library at every start.
flags=(-c release --product caracal-cni --static-swift-stdlib --scratch-path .build-static --disable-local-rpath
       -Xswiftc -Xclang-linker -Xswiftc -no-pie)
"$swift" build "${flags[@]}" >&2
echo "$("$swift" build "${flags[@]}" --show-bin-path)/caracal-cni"
