# Caracal. Every target that needs system packages installs them first
# (scripts/install-deps.sh is idempotent and quiet when all is present).
# Needs root: tests and the demo create network namespaces.

SWIFT ?= swift
FUZZ_SECONDS ?= 45
FUZZ_TARGETS := $(notdir $(wildcard Fuzz/Fuzz*))
BENCHES := bgp-codec bgp bgp-rib routes cni cni-etcd policy datastore agent bfd

.PHONY: all deps deps-test deps-demo deps-bench build release test unit fuzz fuzz-replay demo bench clean $(addprefix bench-,$(BENCHES))

all: build

deps:
	@scripts/install-deps.sh build

deps-test:
	@scripts/install-deps.sh test

deps-demo:
	@scripts/install-deps.sh demo

deps-bench:
	@scripts/install-deps.sh bench

build: deps
	$(SWIFT) build

# caracal-cni ships static and non-PIE (scripts/build-cni.sh, the one way
# it is built: here, in bench-cni and in the demo).
release: deps
	$(SWIFT) build -c release
	SWIFT=$(SWIFT) scripts/build-cni.sh

# The BGP interop tests drive daemons with blocking waits; they run on their
# own, after the rest, so that they never hold the cooperative pool's threads
# (two on this 2-core machine) while other suites' async timeouts and
# watches need them.
# The README's test command: first a check that each install profile names
# the packages of every command its targets run (scripts/check-commands.sh),
# then unit and kernel tests, caracal-cni under podman as a real runtime
# (scripts/test-podman.sh, in namespaces of its own), the node agent end to
# end on three nodes (scripts/test-cluster.sh, on the embedded datastore and
# on etcd), corpus replays, then
# each fuzz target for a bounded time.
test: deps-test
	scripts/check-commands.sh
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build --skip BGPInteropTests
	$(SWIFT) test --skip-build --filter BGPInteropTests
	scripts/test-podman.sh "$$($(SWIFT) build --show-bin-path)"
	scripts/test-cluster.sh "$$($(SWIFT) build --show-bin-path)"
	CARACAL_TEST_DATASTORE=etcd scripts/test-cluster.sh "$$($(SWIFT) build --show-bin-path)"
	$(MAKE) fuzz-replay
	$(MAKE) fuzz

# The pure tests (no root, no namespaces; seconds): targets whose tests
# touch no kernel state. Kernel tests live in their own targets
# (NetlinkTests, RoutingKernelTests, CNIPluginTests, NFTablesTests,
# TestSupportTests) and run under `make test`, as does DatastoreTests: its
# contract suite runs against a real etcd in a namespace (root).
UNIT_TESTS := IPAddressingTests|JSONTests|ClusterTests|BFDTests|BGPTests|BGPRIBTests|BGPSpeakerTests|CNITests|IPAMTests|PolicyTests|RoutingTests
unit: deps-test
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build --filter '^($(UNIT_TESTS))\.'

# Replays every checked-in corpus through the normal (non-fuzzer) build.
fuzz-replay:
	@for t in $(FUZZ_TARGETS); do \
	  $(SWIFT) run -q $$t Fuzz/$$t/corpus || exit 1; \
	done

fuzz:
	@for t in $(FUZZ_TARGETS); do \
	  scripts/fuzz.sh $$t $(FUZZ_SECONDS) || exit 1; \
	done

# The README's main job. `make demo DEMO_ARGS="--datastore etcd"` runs the
# same cluster on an etcd instead of the embedded file.
DEMO_ARGS ?=
demo: deps-demo release
	scripts/demo.sh $(DEMO_ARGS)

# Runs every benchmark that exists; says which do not yet.
bench: deps-bench
	@for b in $(BENCHES); do \
	  if [ -x scripts/bench/$$b.sh ]; then scripts/bench.sh $$b || exit 1; \
	  else echo "bench-$$b: not yet (scripts/bench/$$b.sh arrives with its issue)"; fi; \
	done

$(addprefix bench-,$(BENCHES)): bench-%: deps-bench
	scripts/bench.sh $*

clean:
	rm -rf .build .build-fuzz .build-bench .build-static fuzz-artifacts
