// caracal-cni: the CNI plugin (CNI spec 1.1.0, also 0.3.x-1.0.0). A thin
// main over CNIPlugin: environment and stdin in, result or error JSON out,
// logs on stderr only.
import CNIPlugin
#if canImport(Glibc)
import Glibc
#endif
import Logging

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
    let n = chunk.withUnsafeMutableBytes { read(0, $0.baseAddress, $0.count) }
    if n > 0 { input += chunk[..<n]; continue }
    if n < 0 && errno == EINTR { continue }
    break
}
Timeline.mark("stdin")
let outcome = CNIPlugin(logger: Logger(label: "caracal-cni")).run(environment: environment, stdin: input)
if !outcome.stdout.isEmpty {
    var out = Array((outcome.stdout + "\n").utf8)[...]
    while !out.isEmpty {
        let n = out.withUnsafeBytes { write(1, $0.baseAddress, $0.count) }
        if n > 0 { out = out.dropFirst(n) } else if n < 0 && errno == EINTR { continue } else { break }
    }
}
Timeline.mark("exit")
// Everything is written (stdout by write(2), logs flushed per message):
// skip atexit handlers and C++ static destructors of the runtime.
fflush(nil)
_exit(outcome.exitCode)
