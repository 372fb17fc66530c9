// libFuzzer target for the agent's YAML configuration (see Fuzz/README.md).
import BGPSpeaker
import Foundation
import FuzzSupport

/// Parses the bytes as an agent configuration (secrets resolve to a fixed
/// value). Properties: nothing traps; parsing is deterministic; an error
/// says what is wrong; an accepted file never holds an empty password.
/// (An error's field path need not appear in the text verbatim: YAML folds
/// plain scalars across lines and decodes escapes in quoted keys.)
func fuzzConfig(_ data: UnsafeRawBufferPointer) {
    let text = String(decoding: data, as: UTF8.self)
    func parse() -> Result<AgentConfiguration, ConfigurationError> {
        Result { () throws(ConfigurationError) -> AgentConfiguration in
            try AgentConfiguration.parse(text, environment: ["K": "secret"], readFile: { _ in "secret" })
        }
    }
    let first = parse()
    switch (first, parse()) {
    case (.success(let a), .success(let b)):
        guard a == b else { fatalError("parsing is not deterministic") }
        guard !a.bgp.peers.contains(where: { $0.password == "" }) else { fatalError("an empty password was accepted") }
    case (.failure(let a), .failure(let b)):
        guard a == b else { fatalError("errors are not deterministic") }
        guard !a.message.isEmpty else { fatalError("an error without a message: \(a)") }
    default:
        fatalError("parsing is not deterministic")
    }
}

#if FUZZING
@_cdecl("FuzzAgentConfig_main")
public func fuzzerMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> Int32 {
    FuzzTarget.runLibFuzzer(argc, argv, { $0.withUnsafeBytes(fuzzConfig) })
}
#else
@main
struct Replay {
    static func main() { FuzzTarget.replay(name: "FuzzAgentConfig") { $0.withUnsafeBytes(fuzzConfig) } }
}
#endif
