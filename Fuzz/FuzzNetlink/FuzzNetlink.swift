import Netlink

#if FUZZING
import CFuzzDriver
#else
import Foundation
#endif

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
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzerTestOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    fuzzNetlink(Array(UnsafeBufferPointer(start: data, count: size)))
    return 0
}

@_cdecl("FuzzNetlink_main")
public func fuzzerMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> Int32 {
    var argc = argc
    var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = argv
    return LLVMFuzzerRunDriver(&argc, &argv) { data, size in
        fuzzNetlink(Array(UnsafeBufferPointer(start: data!, count: size)))
        return 0
    }
}
#else
/// Corpus replayer: `FuzzNetlink DIR|FILE...` runs every input once.
@main
struct Replay {
    static func main() throws {
        var count = 0
        for argument in CommandLine.arguments.dropFirst() {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: argument, isDirectory: &isDirectory) else {
                FileHandle.standardError.write(Data("FuzzNetlink: no such file \(argument)\n".utf8))
                exit(1)
            }
            let files = isDirectory.boolValue
                ? try FileManager.default.contentsOfDirectory(atPath: argument).sorted().map { "\(argument)/\($0)" }
                : [argument]
            for file in files {
                fuzzNetlink(Array(try Data(contentsOf: URL(fileURLWithPath: file))))
                count += 1
            }
        }
        print("FuzzNetlink: replayed \(count) inputs")
    }
}
#endif
