// Fuzzes the CNI network-config parser (and the result parser through
// prevResult, and CNI_ARGS): any input must give a config or a CNIError,
// never a trap. See Fuzz/README.md for the two build modes.
import CNI
import Foundation

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
}

#if FUZZING
import CFuzzDriver

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzerTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    fuzzOne(UnsafeRawBufferPointer(start: data, count: size))
    return 0
}

@_cdecl("FuzzCNIConfig_main")
public func fuzzMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> Int32 {
    var argc = argc
    var argv = Optional(argv)
    return LLVMFuzzerRunDriver(&argc, &argv) { data, size in
        fuzzOne(UnsafeRawBufferPointer(start: data, count: size))
        return 0
    }
}
#else
/// Corpus replayer: every file under the given directories goes through the
/// same entry point.
@main
enum CorpusReplayer {
    static func main() {
        var count = 0
        for dir in CommandLine.arguments.dropFirst() {
            let files = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
            for f in files.sorted() {
                guard let data = FileManager.default.contents(atPath: "\(dir)/\(f)") else { continue }
                data.withUnsafeBytes { fuzzOne($0) }
                count += 1
            }
        }
        print("FuzzCNIConfig: replayed \(count) inputs")
    }
}
#endif
