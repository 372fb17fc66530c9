import Foundation

/// A directory under the system temp dir that exists for the scope of a
/// closure and is removed afterwards, even when the closure throws.
public enum TemporaryDirectory {
    public static func with<T>(_ body: (URL) throws -> T) throws -> T {
        let url = try make()
        defer { try? FileManager.default.removeItem(at: url) }
        return try body(url)
    }

    public static func with<T>(_ body: (URL) async throws -> T) async throws -> T {
        let url = try make()
        defer { try? FileManager.default.removeItem(at: url) }
        return try await body(url)
    }

    static func make() throws -> URL {
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("caracal-test-\(getpid())-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }
}
