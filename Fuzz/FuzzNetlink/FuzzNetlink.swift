import ClusterModel
import Netlink
import FuzzSupport

import Foundation

/// One input is a datagram as the kernel would deliver it: netlink messages
/// back to back. Properties: parsing never traps or reads out of bounds;
/// every route that decodes re-encodes (as an RTM_NEWROUTE request) to bytes
/// that decode to the same route.
func fuzzNetlink(_ input: [UInt8]) {
    input.withUnsafeBytes { buffer in
        try? NetlinkMessage.forEach(in: buffer) { message in
            _ = try? NetlinkFuzzing.decodeAny(message)
            guard let route = try? Route.decode(message) else { return }
            let batch = NetlinkBatch()
            batch.appendRoute(route, .replace)
            let bytes = batch.messageBytes(at: 0)
            var again: Route?
            do {
                try NetlinkMessage.forEach(in: bytes) { again = try Route.decode($0) }
            } catch {
                fatalError("re-encoded route does not decode: \(error)\n\(route)")
            }
            guard again == route else { fatalError("round trip changed the route:\n\(route)\n\(String(describing: again))") }
            _ = route.description
        }
    }
}

#if FUZZING
@_cdecl("FuzzNetlink_main")
public func fuzzerMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> Int32 {
    FuzzTarget.runLibFuzzer(argc, argv, fuzzNetlink)
}
#else
@main
struct Replay {
    static func main() { FuzzTarget.replay(name: "FuzzNetlink", fuzzNetlink) }
}
#endif
