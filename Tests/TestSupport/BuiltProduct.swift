import Foundation

/// Paths of the package's own executables (`caracal`, `caracal-cni`) for
/// tests that run them as a user or a runtime would. The test bundle lives in
/// the same build directory as the products, so the search walks up from the
/// running test executable.
public enum BuiltProduct {
    public static func path(_ name: String) -> String {
        let exe = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        var dir = exe.deletingLastPathComponent()
        for _ in 0..<4 {
            let candidate = dir.appendingPathComponent(name).path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            dir = dir.deletingLastPathComponent()
        }
        return URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
            .appendingPathComponent(".build/debug/\(name)").path
    }
}
