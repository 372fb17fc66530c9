#if FUZZING
import CFuzzDriver
#else
import Foundation
#endif

/// Shared plumbing for the `Fuzz/FuzzX` targets (see Fuzz/README.md): each
/// target defines only its property check and calls `FuzzTarget.main`.
public enum FuzzTarget {
    #if FUZZING
    nonisolated(unsafe) fileprivate static var body: (([UInt8]) -> Void)?

    /// Runs libFuzzer's driver over `body` (called from the target's
    /// `@_cdecl("<Target>_main")`).
    public static func runLibFuzzer(
        _ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>,
        _ body: @escaping ([UInt8]) -> Void
    ) -> Int32 {
        FuzzTarget.body = body
        var argc = argc
        var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = argv
        return LLVMFuzzerRunDriver(&argc, &argv) { data, size in
            FuzzTarget.body?(size == 0 ? [] : Array(UnsafeBufferPointer(start: data!, count: size)))
            return 0
        }
    }
    #else
    /// Corpus replayer: every file named on the command line, or inside a
    /// directory named there, goes through `body` once. A trap fails the run.
    public static func replay(name: String, arguments: [String] = Array(CommandLine.arguments.dropFirst()), _ body: ([UInt8]) -> Void) {
        var count = 0
        for path in arguments {
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
                print("\(name): no such input: \(path)")
                exit(1)
            }
            let files = isDir.boolValue
                ? ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).sorted().map { path + "/" + $0 }
                : [path]
            for f in files {
                guard let data = FileManager.default.contents(atPath: f) else { continue }
                body([UInt8](data))
                count += 1
            }
        }
        print("\(name): replayed \(count) inputs")
    }
    #endif
}

#if FUZZING
/// libFuzzer's per-input entry point, for runtimes that reference it even
/// when the driver is started through `LLVMFuzzerRunDriver`.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSupportTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    FuzzTarget.body?(size == 0 || data == nil ? [] : Array(UnsafeBufferPointer(start: data!, count: size)))
    return 0
}
#endif
