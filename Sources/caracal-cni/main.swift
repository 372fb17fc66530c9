// caracal-cni: the CNI plugin. The runtime passes CNI_COMMAND and friends in
// the environment and the network config on stdin (CNI spec 1.1.0).
#if canImport(Glibc)
import Glibc
#endif

let supported = ["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"]
let command = getenv("CNI_COMMAND").map { String(cString: $0) } ?? ""
switch command {
case "VERSION":
    let list = supported.map { "\"\($0)\"" }.joined(separator: ",")
    print("{\"cniVersion\":\"1.1.0\",\"supportedVersions\":[\(list)]}")
default:
    print("{\"cniVersion\":\"1.1.0\",\"code\":4,\"msg\":\"unknown CNI_COMMAND\",\"details\":\"\(command)\"}")
    exit(1)
}
