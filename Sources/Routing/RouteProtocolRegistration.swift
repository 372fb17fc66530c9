import ClusterModel
import Foundation
import Netlink

/// Names Caracal's protocol number for iproute2, so `ip route` prints
/// "proto caracal" (`/etc/iproute2/rt_protos.d/caracal.conf`). Deployment
/// calls `install()`; tests pass a temporary directory.
public enum RouteProtocolRegistration {
    public static let defaultDirectory = "/etc/iproute2/rt_protos.d"

    /// The file's contents: `NUMBER<TAB>NAME`.
    public static func contents(protocol: RouteProtocol, name: String = "caracal") -> String {
        "# Routes programmed by the Caracal agent.\n\(`protocol`.rawValue)\t\(name)\n"
    }

    /// Writes `<directory>/<name>.conf` atomically and returns its path.
    @discardableResult
    public static func install(protocol: RouteProtocol = .caracal, name: String = "caracal",
                               directory: String = defaultDirectory) throws -> String {
        guard !name.isEmpty, name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" }) else {
            throw CocoaError(.fileWriteInvalidFileName, userInfo: [NSLocalizedDescriptionKey: "invalid protocol name \"\(name)\""])
        }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let path = (directory as NSString).appendingPathComponent("\(name).conf")
        try contents(protocol: `protocol`, name: name).write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }
}
