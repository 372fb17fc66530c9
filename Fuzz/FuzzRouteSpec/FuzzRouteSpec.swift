// Fuzzes the desired-routes file parser (`caracal routes sync --desired`):
// any input must give routes or a RouteSpecError/RouteSetError, never a trap,
// all the way through resolving device names and building the desired set.
// See Fuzz/README.md for the two build modes.
import FuzzSupport
import Netlink
import Routing

/// Two device names the resolver knows; any other name is an error.
let interfaces: [String: UInt32] = ["eth0": 2, "crc0": 7]

func fuzzOne(_ bytes: [UInt8]) {
    guard let specs = try? RouteSpec.parseList(bytes) else { return }
    guard let routes = try? RouteSpec.resolve(specs, protocol: .caracal, interfaces: interfaces) else { return }
    if let desired = try? DesiredRoutes(routes, protocol: .caracal) {
        // A resolved set must survive the diff the programmer runs next.
        _ = RouteDiff.between(desired: desired.routes, actual: [:]).sorted
    }
}

#if FUZZING
@_cdecl("FuzzRouteSpec_main")
public func fuzzerMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> Int32 {
    FuzzTarget.runLibFuzzer(argc, argv, fuzzOne)
}
#else
@main
struct Replay {
    static func main() { FuzzTarget.replay(name: "FuzzRouteSpec", fuzzOne) }
}
#endif
