// libFuzzer target for policy and endpoint YAML (see Fuzz/README.md).
import Foundation
import Policy
#if FUZZING
import CFuzzDriver
#endif

/// Parses policies and endpoints; whatever parses must compile, render
/// and evaluate without trapping, deterministically.
func fuzzOne(_ data: UnsafeRawBufferPointer) {
    let text = String(decoding: data, as: UTF8.self)
    let policies = (try? PolicyParser.parse(text)) ?? PolicySet()
    let inventory = (try? EndpointParser.parse(text)) ?? EndpointInventory(endpoints: [
        Endpoint(namespace: "x", name: "a", labels: ["app": "web"], addresses: [IPAddress("10.0.0.1")!], interface: "crc1"),
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
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    fuzzOne(UnsafeRawBufferPointer(start: data, count: size))
    return 0
}

@_cdecl("FuzzPolicyYAML_main")
public func fuzzMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> Int32 {
    var argc = argc
    var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = argv
    return LLVMFuzzerRunDriver(&argc, &argv) { data, size in
        fuzzOne(UnsafeRawBufferPointer(start: data, count: size))
        return 0
    }
}
#else
/// Corpus replayer: every file of every directory given.
@main
struct Replayer {
    static func main() {
        var count = 0
        for dir in CommandLine.arguments.dropFirst() {
            let files = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? [dir]
            for name in files.sorted() {
                let path = files == [dir] ? dir : "\(dir)/\(name)"
                guard let data = FileManager.default.contents(atPath: path) else { continue }
                data.withUnsafeBytes { fuzzOne($0) }
                count += 1
            }
        }
        print("FuzzPolicyYAML: replayed \(count) inputs")
    }
}
#endif
