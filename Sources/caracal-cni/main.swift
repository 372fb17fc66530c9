// caracal-cni: the CNI plugin (CNI spec 1.1.0, also 0.3.x-1.0.0). A thin
// main over CNIPlugin: environment and stdin in, result or error JSON out,
// logs on stderr only.
import CNIPlugin
import Foundation
import Logging

LoggingSystem.bootstrap { label in
    var h = StreamLogHandler.standardError(label: label)
    h.logLevel = ProcessInfo.processInfo.environment["CARACAL_CNI_LOG"].flatMap(Logger.Level.init(rawValue:)) ?? .notice
    return h
}
let input = FileHandle.standardInput.readDataToEndOfFile()
let outcome = CNIPlugin(logger: Logger(label: "caracal-cni"))
    .run(environment: ProcessInfo.processInfo.environment, stdin: Array(input))
if !outcome.stdout.isEmpty {
    FileHandle.standardOutput.write(Data((outcome.stdout + "\n").utf8))
}
exit(outcome.exitCode)
