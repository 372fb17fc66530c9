// caracal-cni: the CNI plugin (CNI spec 1.1.0, also 0.3.x-1.0.0). A thin
// main over CNIPlugin: environment and stdin in, result or error JSON out,
// logs on stderr only.
import CNIPlugin
import Foundation
import Logging

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
Timeline.enabled = environment["CARACAL_CNI_TIMELINE"] == "1"
Timeline.mark("main")
let level = environment["CARACAL_CNI_LOG"].flatMap(Logger.Level.init(rawValue:)) ?? .notice
LoggingSystem.bootstrap { label in
    var h = StreamLogHandler.standardError(label: label)
    h.logLevel = level
    return h
}
Timeline.mark("logging")
let input = FileHandle.standardInput.readDataToEndOfFile()
Timeline.mark("stdin")
let outcome = CNIPlugin(logger: Logger(label: "caracal-cni")).run(environment: environment, stdin: Array(input))
if !outcome.stdout.isEmpty {
    FileHandle.standardOutput.write(Data((outcome.stdout + "\n").utf8))
}
Timeline.mark("exit")
exit(outcome.exitCode)
