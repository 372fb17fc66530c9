// Fuzzes the CNI network-config parser (and the result parser through
// prevResult, and CNI_ARGS): any input must give a config or a CNIError,
// never a trap. See Fuzz/README.md for the two build modes.
import CNI
import FuzzSupport
import Foundation
import JSON

func fuzzOne(_ bytes: UnsafeRawBufferPointer) {
    let input = Array(bytes)
    if let config = try? NetworkConfig(parsing: input) {
        // What the plugin does next with a valid config must not trap either.
        for v in CNIVersion.supported {
            if let prev = config.prevResult { _ = prev.json(version: v).encoded() }
        }
        _ = config.requestedIPs
    }
    _ = try? CNIArgs(parsing: String(decoding: input, as: UTF8.self))
    // The record decoder over any JSON (the datastore's records are JSON too).
    if let value = try? JSONValueDecoder().decode(JSONValue.self, from: input) {
        _ = try? JSONValueDecoder().decode(JSONValue.self, from: JSONValueEncoder().encodedBytes(value))
    }
}

#if FUZZING
@_cdecl("FuzzCNIConfig_main")
public func fuzzerMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> Int32 {
    FuzzTarget.runLibFuzzer(argc, argv, { $0.withUnsafeBytes(fuzzOne) })
}
#else
@main
struct Replay {
    static func main() { FuzzTarget.replay(name: "FuzzCNIConfig", { $0.withUnsafeBytes(fuzzOne) }) }
}
#endif
