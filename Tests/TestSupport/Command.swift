import Foundation

/// The outcome of a finished process.
public struct CommandResult: Sendable {
    public var status: Int32
    public var stdout: String
    public var stderr: String
    public var succeeded: Bool { status == 0 }
}

public struct CommandError: Error, CustomStringConvertible {
    public var arguments: [String]
    public var result: CommandResult
    public var description: String {
        "command failed (\(result.status)): \(arguments.joined(separator: " "))\n\(result.stderr)\(result.stdout)"
    }
}

/// Runs real programs (iproute2, nft, bird, the plugin under test) and
/// captures their output. Tests run as root and never mock what can be run.
public enum Command {
    /// Runs `arguments[0]` (looked up in PATH) with the rest as arguments.
    /// `stdin` is written to the child's standard input; `environment`
    /// replaces the child's environment when given.
    @discardableResult
    public static func run(
        _ arguments: [String],
        stdin: Data? = nil,
        environment: [String: String]? = nil,
        timeout: Double = 60
    ) throws -> CommandResult {
        precondition(!arguments.isEmpty)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        if let environment { process.environment = environment }
        let outPipe = Pipe(), errPipe = Pipe(), inPipe = Pipe()
        process.standardOutput = outPipe
        process.standardError = errPipe
        process.standardInput = inPipe
        try process.run()
        // Drain both pipes concurrently so a chatty child cannot block.
        let group = DispatchGroup()
        nonisolated(unsafe) var outData = Data(), errData = Data()
        group.enter()
        DispatchQueue.global().async { outData = outPipe.fileHandleForReading.readDataToEndOfFile(); group.leave() }
        group.enter()
        DispatchQueue.global().async { errData = errPipe.fileHandleForReading.readDataToEndOfFile(); group.leave() }
        if let stdin { try? inPipe.fileHandleForWriting.write(contentsOf: stdin) }
        try? inPipe.fileHandleForWriting.close()
        if group.wait(timeout: .now() + timeout) == .timedOut {
            process.terminate()
            _ = group.wait(timeout: .now() + 5)
        }
        process.waitUntilExit()
        return CommandResult(
            status: process.terminationStatus,
            stdout: String(decoding: outData, as: UTF8.self),
            stderr: String(decoding: errData, as: UTF8.self))
    }

    /// Like `run`, but throws `CommandError` unless the exit status is 0.
    @discardableResult
    public static func check(_ arguments: [String], stdin: Data? = nil, timeout: Double = 60) throws -> CommandResult {
        let result = try run(arguments, stdin: stdin, timeout: timeout)
        guard result.succeeded else { throw CommandError(arguments: arguments, result: result) }
        return result
    }
}
