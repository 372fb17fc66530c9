// swift-tools-version: 6.0
// Caracal: an L3 routed container network. See docs/architecture.md for the
// module map: pure value-type modules (codecs, FSM, RIB, IPAM rules, policy
// compiler, CNI types) are kept apart from the thin I/O adapters.
import PackageDescription

let log = Target.Dependency.product(name: "Logging", package: "swift-log")
let metrics = Target.Dependency.product(name: "Metrics", package: "swift-metrics")
let nioCore = Target.Dependency.product(name: "NIOCore", package: "swift-nio")

let package = Package(
    name: "Caracal",
    // Linux only (Glibc, netlink, namespaces); Swift 6 for UInt128 and the
    // standard library's Synchronization. No Apple platform is supported.
    products: [
        .executable(name: "caracal", targets: ["caracal"]),
        .executable(name: "caracal-cni", targets: ["caracal-cni"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-system.git", from: "1.8.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        // The etcd backend talks etcd's v3 JSON gateway (docs/datastore.md, "Why the JSON gateway").
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.29.0"),
    ],
    targets: [
        // MARK: C interop, each behind one small Swift module.
        .target(name: "CSystemShim", cSettings: [.define("_GNU_SOURCE")]),
        .systemLibrary(name: "CMnl", pkgConfig: "libmnl", providers: [.apt(["libmnl-dev"])]),
        .systemLibrary(name: "CNftnl", pkgConfig: "libnftnl", providers: [.apt(["libnftnl-dev"])]),
        .target(name: "CSQLite", linkerSettings: [.linkedLibrary("sqlite3")]),
        // Header-only declaration of libFuzzer's driver (see Fuzz/README.md).
        .target(name: "CFuzzDriver"),

        // MARK: Pure modules
        .target(name: "IPAddressing"),
        // The cluster's domain as values: routes (desired and observed),
        // endpoints and their attachment key, nodes.
        .target(name: "ClusterModel", dependencies: ["IPAddressing"]),
        .target(name: "BGP", dependencies: ["IPAddressing", nioCore]),
        // The speaker's tables and decisions (RFC 4271 §9, RFC 4456), pure.
        .target(name: "BGPRIB", dependencies: ["BGP", "IPAddressing"]),
        // BFD (RFC 5880): the control packet codec and the session state machine, pure.
        .target(name: "BFD"),
        .target(name: "JSON"),
        .target(name: "CNI", dependencies: ["ClusterModel", "IPAddressing", "JSON"]),
        .target(name: "KeyValueStore"),
        .target(name: "IPAM", dependencies: ["ClusterModel", "IPAddressing", "JSON", "KeyValueStore"]),
        // Strict YAML reading with field-path errors (policy, agent config).
        .target(name: "StrictYAML", dependencies: ["IPAddressing", .product(name: "Yams", package: "Yams")]),
        .target(name: "Policy", dependencies: ["IPAddressing", "StrictYAML", .product(name: "Yams", package: "Yams")]),
        // The cluster's resources and what one node should do about them, pure.
        .target(name: "Cluster", dependencies: ["ClusterModel", "IPAM", "IPAddressing", "JSON", "KeyValueStore", "Policy", "StrictYAML",
                                                .product(name: "Yams", package: "Yams")]),

        // MARK: Adapters (I/O)
        .target(name: "NetNS", dependencies: ["CSystemShim"]),
        .target(name: "Netlink", dependencies: ["ClusterModel", "CMnl", "CSystemShim", "NetNS", "IPAddressing", .product(name: "SystemPackage", package: "swift-system")]),
        .target(name: "Routing", dependencies: ["ClusterModel", "JSON", "Netlink", "NetNS", log, metrics]),
        .target(name: "NFTables", dependencies: ["CNftnl", "NetNS", "Netlink", "Policy", log, metrics]),
        .target(
            name: "Datastore",
            dependencies: ["ClusterModel", "KeyValueStore", "IPAM", "IPAddressing", "JSON", "CSQLite", "NetNS", "EtcdStore"]),
        // The etcd v3 backend of `KVStore`, over the JSON gateway (docs/datastore.md).
        .target(
            name: "EtcdStore",
            dependencies: ["KeyValueStore", "NetNS", log, nioCore, .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ]),
        // BFD sessions (RFC 5881 single hop, RFC 5883 multihop) on an event loop: the pure BFD state machines on sockets.
        .target(name: "BFDService", dependencies: ["BFD", "BGP", "IPAddressing", "NetNS", nioCore, log, metrics]),
        // BGP sessions over SwiftNIO: the FSM and the RIB on the wire.
        .target(name: "BGPSpeaker", dependencies: ["BFD", "BFDService", "BGP", "BGPRIB", "ClusterModel", "IPAddressing", "StrictYAML", nioCore,
                                                   .product(name: "NIOPosix", package: "swift-nio"), log, metrics]),
        // `caracal agent`: the speaker, kernel routes and the control socket.
        .target(name: "Agent", dependencies: ["BFD", "BGP", "BGPRIB", "BGPSpeaker", "Cluster", "ClusterModel", "Datastore", "EtcdStore", "IPAM", "IPAddressing", "JSON", "KeyValueStore",
                                              "NetNS", "Netlink", "NFTables", "Policy", "Routing",
                                              nioCore, .product(name: "NIOPosix", package: "swift-nio"), .product(name: "NIOHTTP1", package: "swift-nio"),
                                              log, metrics, .product(name: "Prometheus", package: "swift-prometheus"),
                                              .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                                              .product(name: "UnixSignals", package: "swift-service-lifecycle")]),
        .target(name: "CNIPlugin", dependencies: ["ClusterModel", "CNI", "IPAM", "IPAddressing", "JSON", "KeyValueStore", "Datastore", "EtcdStore", "Netlink", "NetNS", log]),

        // MARK: Executables
        .executableTarget(
            name: "caracal",
            dependencies: ["ClusterModel", "Cluster", "JSON",
                .product(name: "ArgumentParser", package: "swift-argument-parser"), log,
                "BGP", "IPAddressing", "IPAM", "Datastore", "EtcdStore", "KeyValueStore", "Netlink", "Routing", "NetNS", "Policy", "NFTables", "CNIPlugin",
                "Agent", "BGPSpeaker", .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]),
        .executableTarget(name: "caracal-cni", dependencies: ["CNIPlugin", "NetNS", log]),

        // MARK: Benchmarks (scripts/bench/<name>.sh; C references in reference/)
        .executableTarget(name: "bench-bgp-codec", dependencies: ["BGP", "IPAddressing", nioCore], exclude: ["reference"]),
        .executableTarget(name: "bench-bgp-rib", dependencies: ["BGP", "BGPRIB", "IPAddressing"]),
        .executableTarget(name: "bench-bfd", dependencies: ["BFD", "BFDService", "IPAddressing", nioCore, .product(name: "NIOPosix", package: "swift-nio")]),
        .executableTarget(name: "bench-bgp-clients", dependencies: ["BGP", "IPAddressing", nioCore, .product(name: "NIOPosix", package: "swift-nio")]),
        .executableTarget(name: "bench-routes", dependencies: ["ClusterModel", "Netlink", "Routing", "IPAddressing"], exclude: ["reference"]),
        .executableTarget(name: "bench-datastore", dependencies: ["Datastore", "KeyValueStore", "IPAM", "IPAddressing"], exclude: ["reference"]),
        .executableTarget(
            name: "bench-policy",
            dependencies: ["Policy", "NFTables", "NetNS", "CSystemShim", metrics, .product(name: "MetricsTestKit", package: "swift-metrics")]),

        // MARK: Fuzz targets (see Fuzz/README.md)
        .target(name: "FuzzSupport", dependencies: ["CFuzzDriver"]),
        .executableTarget(name: "FuzzBGPMessage", dependencies: ["BGP", "FuzzSupport", nioCore], path: "Fuzz/FuzzBGPMessage", exclude: ["corpus"]),
        .executableTarget(name: "FuzzBGPRIB", dependencies: ["BGP", "BGPRIB", "IPAddressing", "FuzzSupport"], path: "Fuzz/FuzzBGPRIB", exclude: ["corpus"]),
        .executableTarget(name: "FuzzBFD", dependencies: ["BFD", "BGP", "FuzzSupport"], path: "Fuzz/FuzzBFD", exclude: ["corpus"]),
        .executableTarget(name: "FuzzBGPFSM", dependencies: ["BGP", "IPAddressing", "FuzzSupport"], path: "Fuzz/FuzzBGPFSM", exclude: ["corpus"]),
        .executableTarget(name: "FuzzNetlink", dependencies: ["ClusterModel", "Netlink", "FuzzSupport"], path: "Fuzz/FuzzNetlink", exclude: ["corpus"]),
        .executableTarget(name: "FuzzCNIConfig", dependencies: ["CNI", "JSON", "FuzzSupport"], path: "Fuzz/FuzzCNIConfig", exclude: ["corpus"]),
        .executableTarget(name: "FuzzSelector", dependencies: ["Policy", "FuzzSupport"], path: "Fuzz/FuzzSelector", exclude: ["corpus"]),
        .executableTarget(name: "FuzzPolicyYAML", dependencies: ["Policy", "FuzzSupport"], path: "Fuzz/FuzzPolicyYAML", exclude: ["corpus"]),
        .executableTarget(name: "FuzzAgentConfig", dependencies: ["BGPSpeaker", "FuzzSupport"], path: "Fuzz/FuzzAgentConfig", exclude: ["corpus"]),
        .executableTarget(name: "FuzzClusterResource", dependencies: ["Cluster", "IPAddressing", "KeyValueStore", "FuzzSupport"],
                          path: "Fuzz/FuzzClusterResource", exclude: ["corpus"]),
        .executableTarget(name: "FuzzRouteSpec", dependencies: ["ClusterModel", "Routing", "Netlink", "FuzzSupport"], path: "Fuzz/FuzzRouteSpec", exclude: ["corpus"]),

        // MARK: Test support and tests
        .target(name: "TestSupport", dependencies: ["NetNS"], path: "Tests/TestSupport"),
        .testTarget(name: "TestSupportTests", dependencies: ["TestSupport", "NetNS"]),
        .testTarget(name: "IPAddressingTests", dependencies: ["IPAddressing"]),
        .testTarget(name: "BGPSpeakerTests", dependencies: ["BGPSpeaker", "BGPRIB", "BGP", "ClusterModel", "IPAddressing", nioCore,
                                                    .product(name: "NIOEmbedded", package: "swift-nio")]),
        .testTarget(name: "BGPInteropTests", dependencies: ["TestSupport"]),
        .testTarget(name: "BGPRIBTests", dependencies: ["BGPRIB", "BGP", "IPAddressing", "TestSupport"]),
        .testTarget(name: "BFDTests", dependencies: ["BFD", "BGP"]),
        .testTarget(name: "BGPTests", dependencies: ["BGP", "IPAddressing", "TestSupport", nioCore], exclude: ["Vectors"]),
        .testTarget(name: "NetlinkTests", dependencies: ["ClusterModel", "Netlink", "TestSupport", "NetNS", "CMnl", "IPAddressing"]),
        .testTarget(name: "RoutingTests", dependencies: ["ClusterModel", "Routing", "Netlink", "IPAddressing", "JSON", "TestSupport"]),
        .testTarget(
            name: "RoutingKernelTests",
            dependencies: ["ClusterModel", 
                "Routing", "Netlink", "TestSupport", "IPAddressing", "NetNS", metrics,
                .product(name: "MetricsTestKit", package: "swift-metrics"),
            ]),
        .testTarget(name: "JSONTests", dependencies: ["JSON"]),
        .testTarget(name: "ClusterTests", dependencies: ["Cluster", "ClusterModel", "Datastore", "IPAM", "IPAddressing", "JSON", "KeyValueStore"]),
        .testTarget(name: "CNITests", dependencies: ["ClusterModel", "CNI", "IPAddressing", "JSON"]),
        .testTarget(name: "IPAMTests", dependencies: ["ClusterModel", "IPAM", "IPAddressing", "JSON", "KeyValueStore"]),
        .testTarget(name: "DatastoreTests", dependencies: ["BGP", "ClusterModel", "Datastore", "EtcdStore", "KeyValueStore", "IPAM", "IPAddressing", "TestSupport"]),
        // A second process for the datastore contract's cross-process races.
        .executableTarget(name: "kv-contract-worker", dependencies: ["Datastore", "EtcdStore", "KeyValueStore"], path: "Tests/KVContractWorker"),
        .testTarget(
            name: "CNIPluginTests",
            dependencies: ["ClusterModel", "CNIPlugin", "CNI", "IPAM", "IPAddressing", "JSON", "Datastore", "EtcdStore", "KeyValueStore", "TestSupport", "NetNS"]),
        .testTarget(name: "PolicyTests", dependencies: ["Policy"], exclude: ["Golden"]),
        .testTarget(
            name: "NFTablesTests",
            dependencies: ["ClusterModel", "NFTables", "Policy", "TestSupport", "NetNS", .product(name: "MetricsTestKit", package: "swift-metrics")]),
    ]
)
