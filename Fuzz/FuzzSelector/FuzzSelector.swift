// libFuzzer target for the selector language (see Fuzz/README.md).
import Foundation
import FuzzSupport
import Policy

/// Parses; on success the canonical text must parse back to the same
/// selector, and evaluation must not trap.
func fuzzOne(_ data: UnsafeRawBufferPointer) {
    let text = String(decoding: data, as: UTF8.self)
    guard let s = try? Selector(parsing: text) else { return }
    guard let again = try? Selector(parsing: s.description), again == s else {
        fatalError("selector does not round-trip: \(text) -> \(s.description)")
    }
    _ = s.matches(["app": "web", "tier": "a", "x": ""])
}

#if FUZZING
@_cdecl("FuzzSelector_main")
public func fuzzerMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> Int32 {
    FuzzTarget.runLibFuzzer(argc, argv, { $0.withUnsafeBytes(fuzzOne) })
}
#else
@main
struct Replay {
    static func main() { FuzzTarget.replay(name: "FuzzSelector", { $0.withUnsafeBytes(fuzzOne) }) }
}
#endif
