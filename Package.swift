// swift-tools-version: 6.0
// Caracal: an L3 routed container network. See docs/architecture.md for the
// module map: pure value-type modules (codecs, FSM, RIB, IPAM rules, policy
// compiler, CNI types) are kept apart from the thin I/O adapters.
import PackageDescription

let package = Package(
    name: "Caracal",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "caracal", targets: ["caracal"]),
        .executable(name: "caracal-cni", targets: ["caracal-cni"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-system.git", from: "1.8.1"),
    ],
    targets: [
        // MARK: C interop, each behind one small Swift module.
        .target(
            name: "CSystemShim",
            cSettings: [.define("_GNU_SOURCE")]
        ),
        .systemLibrary(
            name: "CMnl",
            pkgConfig: "libmnl",
            providers: [.apt(["libmnl-dev"])]
        ),
        .systemLibrary(
            name: "CNftnl",
            pkgConfig: "libnftnl",
            providers: [.apt(["libnftnl-dev"])]
        ),
        // Header-only declaration of libFuzzer's driver (see Fuzz/README.md).
        .target(name: "CFuzzDriver"),

        // MARK: Pure modules
        .target(name: "IPAddressing"),
        .testTarget(name: "IPAddressingTests", dependencies: ["IPAddressing"]),
        .target(
            name: "BGP",
            dependencies: ["IPAddressing", .product(name: "NIOCore", package: "swift-nio")]
        ),
        .testTarget(
            name: "BGPTests",
            dependencies: ["BGP", "IPAddressing", "TestSupport", .product(name: "NIOCore", package: "swift-nio")],
            exclude: ["Vectors"]
        ),

        // MARK: I/O foundations
        .target(
            name: "NetNS",
            dependencies: ["CSystemShim", .product(name: "SystemPackage", package: "swift-system")]
        ),

        .target(
            name: "Netlink",
            dependencies: ["CMnl", "NetNS", "IPAddressing"]
        ),
        .target(
            name: "Routing",
            dependencies: [
                "Netlink", "NetNS",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ]
        ),

        // MARK: CNI plugin and IPAM (issue 5)
        .target(name: "CNI", dependencies: ["IPAddressing"]),
        .target(name: "IPAM", dependencies: ["IPAddressing"]),
        .testTarget(name: "IPAMTests", dependencies: ["IPAM", "IPAddressing"]),
        .target(name: "CSQLiteTuning", linkerSettings: [.linkedLibrary("sqlite3")]),
        .target(
            name: "Datastore",
            dependencies: ["IPAM", "IPAddressing", "CSQLiteTuning", .product(name: "GRDB", package: "GRDB.swift")]),
        .testTarget(name: "DatastoreTests", dependencies: ["Datastore", "IPAM", "IPAddressing", "TestSupport"]),
        .testTarget(name: "CNITests", dependencies: ["CNI", "IPAddressing"]),
        .executableTarget(
            name: "FuzzCNIConfig", dependencies: ["CNI", "CFuzzDriver"],
            path: "Fuzz/FuzzCNIConfig", exclude: ["corpus"]),
        // MARK: Policy (pure) and its nftables adapter
        .target(
            name: "Policy",
            dependencies: [.product(name: "Yams", package: "Yams")]
        ),
            name: "CNIPlugin",
            dependencies: [
                "CNI", "IPAM", "IPAddressing", "Datastore", "Netlink", "NetNS",
                .product(name: "Logging", package: "swift-log"),
            ]),
        .testTarget(name: "CNIPluginTests", dependencies: ["CNIPlugin", "CNI", "IPAM", "IPAddressing", "Datastore", "TestSupport", "NetNS"]),

        .executableTarget(
            name: "bench-datastore", dependencies: ["Datastore", "IPAM", "IPAddressing"],
            exclude: ["reference"]),

        // MARK: Executables
        .executableTarget(
            name: "caracal",
            dependencies: [
                "BGP",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                "IPAM", "IPAddressing", "Datastore",
                "Netlink", "Routing", "NetNS",
            ]
        ),
        .executableTarget(
            name: "bench-routes",
            dependencies: ["Netlink", "Routing", "IPAddressing"],
            exclude: ["reference"]
        ),
        .executableTarget(
            name: "caracal-cni",
            dependencies: ["CNIPlugin", .product(name: "Logging", package: "swift-log")]
        ),

        // MARK: Benchmarks (scripts/bench/*.sh)
        .executableTarget(
            name: "bench-bgp-codec",
            dependencies: ["BGP", "IPAddressing", .product(name: "NIOCore", package: "swift-nio")],
            exclude: ["reference"]
        ),

        // MARK: Fuzz targets (see Fuzz/README.md)
        .target(name: "FuzzSupport", dependencies: ["CFuzzDriver"]),
        .executableTarget(
            name: "FuzzNetlink",
            dependencies: ["Netlink", "CFuzzDriver"],
            path: "Fuzz/FuzzNetlink",
            exclude: ["corpus"]
        ),
        .executableTarget(
            name: "FuzzBGPMessage",
            dependencies: ["BGP", "FuzzSupport", .product(name: "NIOCore", package: "swift-nio")],
            path: "Fuzz/FuzzBGPMessage",
            exclude: ["corpus"]
        ),
        .executableTarget(
            name: "FuzzBGPFSM",
            dependencies: ["BGP", "IPAddressing", "FuzzSupport"],
            path: "Fuzz/FuzzBGPFSM",
            exclude: ["corpus"]
        ),

        // MARK: Test support and tests
        .target(
            name: "TestSupport",
            dependencies: ["NetNS"],
            path: "Tests/TestSupport"
        ),
        .testTarget(name: "TestSupportTests", dependencies: ["TestSupport", "NetNS"]),
        .testTarget(name: "NetlinkTests", dependencies: ["Netlink", "TestSupport", "NetNS", "CMnl", "IPAddressing"]),
        .testTarget(name: "RoutingTests", dependencies: [
            "Routing", "Netlink", "TestSupport", "IPAddressing", "NetNS",
            .product(name: "Metrics", package: "swift-metrics"),
            .product(name: "MetricsTestKit", package: "swift-metrics"),
        ]),
        .testTarget(name: "PolicyTests", dependencies: ["Policy"]),
    ]
)
