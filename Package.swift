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

        // MARK: I/O foundations
        .target(
            name: "NetNS",
            dependencies: ["CSystemShim", .product(name: "SystemPackage", package: "swift-system")]
        ),

        // MARK: Policy (pure) and its nftables adapter
        .target(
            name: "Policy",
            dependencies: [.product(name: "Yams", package: "Yams")]
        ),
        .target(
            name: "NFTables",
            dependencies: ["CNftnl", "NetNS", "Policy", .product(name: "Logging", package: "swift-log")]
        ),

        // MARK: Executables
        .executableTarget(
            name: "caracal",
            dependencies: [
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                "Policy", "NFTables", "NetNS",
            ]
        ),
        .executableTarget(
            name: "caracal-cni",
            dependencies: []
        ),

        .executableTarget(
            name: "bench-policy",
            dependencies: ["Policy", "NFTables", "NetNS"]
        ),

        // MARK: Fuzz targets (see Fuzz/README.md)
        .executableTarget(name: "FuzzSelector", dependencies: ["Policy", "CFuzzDriver"], path: "Fuzz/FuzzSelector", exclude: ["corpus"]),
        .executableTarget(name: "FuzzPolicyYAML", dependencies: ["Policy", "CFuzzDriver"], path: "Fuzz/FuzzPolicyYAML", exclude: ["corpus"]),

        // MARK: Test support and tests
        .target(
            name: "TestSupport",
            dependencies: ["NetNS"],
            path: "Tests/TestSupport"
        ),
        .testTarget(name: "TestSupportTests", dependencies: ["TestSupport", "NetNS"]),
        .testTarget(name: "PolicyTests", dependencies: ["Policy"], exclude: ["Golden"]),
        .testTarget(name: "NFTablesTests", dependencies: ["NFTables", "Policy", "TestSupport", "NetNS"]),
    ]
)
