// libFuzzer target for the selector language (see Fuzz/README.md).
import Foundation
import Policy
#if FUZZING
import CFuzzDriver
#endif

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
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    fuzzOne(UnsafeRawBufferPointer(start: data, count: size))
    return 0
}

@_cdecl("FuzzSelector_main")
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
        print("FuzzSelector: replayed \(count) inputs")
    }
}
#endif
