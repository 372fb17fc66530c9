// caracal-cni: the CNI plugin (CNI spec 1.1.0, also 0.3.x-1.0.0). A thin
// main over CNIPlugin: environment and stdin in, result or error JSON out,
// logs on stderr only.
import CNIPlugin
#if canImport(Glibc)
import Glibc
#endif
import Logging
import NetNS

Timeline.enabled = getenv("CARACAL_CNI_TIMELINE").map { String(cString: $0) == "1" } ?? false
Timeline.mark("start")
// The environment, read once (ProcessInfo.environment rebuilds it per call).
var environment: [String: String] = [:]
var entry = environ
while let pointer = entry.pointee {
    let pair = String(cString: pointer)
    if let eq = pair.firstIndex(of: "=") {
        environment[String(pair[..<eq])] = String(pair[pair.index(after: eq)...])
    }
    entry += 1
}
Timeline.mark("main")
let level = environment["CARACAL_CNI_LOG"].flatMap(Logger.Level.init(rawValue:)) ?? .notice
LoggingSystem.bootstrap { label in
    var h = StreamLogHandler.standardError(label: label)
    h.logLevel = level
    return h
}
Timeline.mark("logging")
// stdin to EOF, stdout in full: plain read/write (FileHandle would pull all
// of Foundation into the plugin, docs/cni.md "Latency").
var input: [UInt8] = []
var chunk = [UInt8](repeating: 0, count: 16384)
while true {
    let n = chunk.withUnsafeMutableBytes { buffer in Syscall.retryingInterrupts { read(0, buffer.baseAddress, buffer.count) } }
    guard n > 0 else { break }
    input += chunk[..<n]
}
Timeline.mark("stdin")
let outcome = CNIPlugin(logger: Logger(label: "caracal-cni")).run(environment: environment, stdin: input)
if !outcome.stdout.isEmpty {
    var out = Array((outcome.stdout + "\n").utf8)[...]
    while !out.isEmpty {
        let n = out.withUnsafeBytes { buffer in Syscall.retryingInterrupts { write(1, buffer.baseAddress, buffer.count) } }
        guard n > 0 else { break }
        out = out.dropFirst(n)
    }
}
Timeline.mark("exit")
// Everything is written (stdout by write(2), logs flushed per message):
// skip atexit handlers and C++ static destructors of the runtime.
fflush(nil)
_exit(outcome.exitCode)
