// libFuzzer target for policy and endpoint YAML (see Fuzz/README.md).
import Foundation
import FuzzSupport
import Policy

/// Parses policies and endpoints; whatever parses must compile, render
/// and evaluate without trapping, deterministically.
func fuzzOne(_ data: UnsafeRawBufferPointer) {
    let text = String(decoding: data, as: UTF8.self)
    let policies = (try? PolicyParser.parse(text)) ?? PolicySet()
    let inventory = (try? EndpointParser.parse(text)) ?? EndpointInventory(endpoints: [
        Endpoint(namespace: "x", name: "a", labels: ["app": "web"], addresses: [NumericAddress("10.0.0.1")!], interface: "crc1"),
    ])
    let ruleset = PolicyCompiler().compile(policies, inventory)
    let text1 = NftRenderer.render(ruleset)
    guard text1 == NftRenderer.render(PolicyCompiler().compile(policies, inventory)) else { fatalError("rendering is not deterministic") }
    let explainer = PolicyExplainer(ruleset: ruleset, inventory: inventory)
    if let a = inventory.endpoints.first, let b = inventory.endpoints.last {
        _ = try? explainer.explain(from: .endpoint(a), to: .endpoint(b), proto: .tcp, port: 80)
    }
}

#if FUZZING
@_cdecl("FuzzPolicyYAML_main")
public func fuzzerMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> Int32 {
    FuzzTarget.runLibFuzzer(argc, argv, { $0.withUnsafeBytes(fuzzOne) })
}
#else
@main
struct Replay {
    static func main() { FuzzTarget.replay(name: "FuzzPolicyYAML", { $0.withUnsafeBytes(fuzzOne) }) }
}
#endif
