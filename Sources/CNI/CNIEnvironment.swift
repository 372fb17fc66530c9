import IPAddressing

/// The CNI operations (`CNI_COMMAND`).
public enum CNICommand: String, Sendable, CaseIterable {
    case add = "ADD"
    case del = "DEL"
    case check = "CHECK"
    case version = "VERSION"
    case status = "STATUS"
    case gc = "GC"

    /// The spec version that introduced the command: CHECK came with 0.4.0,
    /// STATUS and GC with 1.1.0. A config of an older version cannot carry
    /// it (code 1, as libcni's skel answers).
    public var introducedIn: CNIVersion {
        switch self {
        case .add, .del, .version: .v0_3_0
        case .check: .v0_4_0
        case .status, .gc: .v1_1_0
        }
    }
}

/// `CNI_ARGS`: `K=V;K=V`. Kubernetes runtimes send `IgnoreUnknown=1`,
/// `K8S_POD_NAMESPACE`, `K8S_POD_NAME`, `K8S_POD_INFRA_CONTAINER_ID` and
/// `K8S_POD_UID`. Caracal also reads `IP` (a requested address, as the
/// reference `static`/`host-local` plugins do), `MAC` (the pod interface's
/// MAC, as the reference `tuning` plugin reads it; podman's `--mac-address`)
/// and `CARACAL_CLAIM` (a sticky workload claim name).
public struct CNIArgs: Hashable, Sendable {
    public var pairs: [(key: String, value: String)] { entries.map { ($0.key, $0.value) } }
    private var entries: [Entry]
    private struct Entry: Hashable, Sendable {
        var key: String
        var value: String
        init(_ k: String, _ v: String) { key = k; value = v }
    }

    /// Keys Caracal understands. Others are an error unless IgnoreUnknown.
    public static let knownKeys: Set<String> = [
        "IgnoreUnknown", "K8S_POD_NAMESPACE", "K8S_POD_NAME", "K8S_POD_INFRA_CONTAINER_ID", "K8S_POD_UID",
        "IP", "MAC", "CARACAL_CLAIM",
    ]

    public init(parsing text: String) throws(CNIError) {
        entries = []
        for item in text.split(separator: ";", omittingEmptySubsequences: true) {
            guard let eq = item.firstIndex(of: "=") else {
                throw CNIError(.invalidEnvironment, "CNI_ARGS: \"\(item)\" is not KEY=VALUE")
            }
            let key = String(item[..<eq])
            guard !key.isEmpty else { throw CNIError(.invalidEnvironment, "CNI_ARGS: empty key in \"\(item)\"") }
            entries.append(Entry(key, String(item[item.index(after: eq)...])))
        }
        for ip in (self["IP"] ?? "").split(separator: ",") where NetworkConfig.address(String(ip)) == nil {
            throw CNIError(.invalidEnvironment, "CNI_ARGS: IP \"\(ip)\" is not an IP address")
        }
        if let mac = self["MAC"], !mac.isEmpty, MACAddressText.parse(mac) == nil {
            throw CNIError(.invalidEnvironment, "CNI_ARGS: MAC \"\(mac)\" is not a MAC address (aa:bb:cc:dd:ee:ff)")
        }
        if !ignoreUnknown, let unknown = entries.first(where: { !CNIArgs.knownKeys.contains($0.key) }) {
            throw CNIError(
                .invalidEnvironment, "CNI_ARGS: unknown key \(unknown.key) (send IgnoreUnknown=1 to ignore it)")
        }
    }

    public init() { entries = [] }

    public subscript(key: String) -> String? { entries.last(where: { $0.key == key })?.value }

    public var ignoreUnknown: Bool {
        guard let v = self["IgnoreUnknown"]?.lowercased() else { return false }
        return v == "1" || v == "true"
    }

    public var podNamespace: String? { nonEmpty(self["K8S_POD_NAMESPACE"]) }
    public var podName: String? { nonEmpty(self["K8S_POD_NAME"]) }
    public var podUID: String? { nonEmpty(self["K8S_POD_UID"]) }
    public var infraContainerID: String? { nonEmpty(self["K8S_POD_INFRA_CONTAINER_ID"]) }
    /// `IP=a[,b]`, checked when parsed.
    public var requestedIPs: [IPAddress] {
        (self["IP"] ?? "").split(separator: ",").compactMap { NetworkConfig.address(String($0)) }
    }
    public var claim: String? { nonEmpty(self["CARACAL_CLAIM"]) }
    /// `MAC=aa:bb:cc:dd:ee:ff`, checked when parsed.
    public var mac: String? { nonEmpty(self["MAC"]) }

    private func nonEmpty(_ s: String?) -> String? { (s?.isEmpty ?? true) ? nil : s }

    public static func == (a: CNIArgs, b: CNIArgs) -> Bool { a.entries == b.entries }
    public func hash(into h: inout Hasher) { h.combine(entries) }
}

/// The invocation's environment, validated for the command (SPEC.md
/// "Parameters"): ADD and CHECK need CNI_CONTAINERID, CNI_NETNS and
/// CNI_IFNAME; DEL needs CNI_CONTAINERID and CNI_IFNAME (CNI_NETNS may be
/// absent when the namespace is gone); VERSION, STATUS and GC need only
/// CNI_COMMAND. Missing or malformed values give code 4 naming the variable.
public struct CNIEnvironment: Hashable, Sendable {
    public var command: CNICommand
    public var containerID: String?
    public var netns: String?
    public var ifName: String?
    public var args: CNIArgs
    public var path: [String]

    public init(
        command: CNICommand, containerID: String? = nil, netns: String? = nil, ifName: String? = nil,
        args: CNIArgs = CNIArgs(), path: [String] = []
    ) {
        self.command = command
        self.containerID = containerID
        self.netns = netns
        self.ifName = ifName
        self.args = args
        self.path = path
    }

    public init(_ env: [String: String]) throws(CNIError) {
        func value(_ name: String) -> String? {
            guard let v = env[name], !v.isEmpty else { return nil }
            return v
        }
        guard let raw = value("CNI_COMMAND") else {
            throw CNIError(.invalidEnvironment, "required env variables [CNI_COMMAND] missing")
        }
        guard let command = CNICommand(rawValue: raw) else {
            throw CNIError(
                .invalidEnvironment, "CNI_COMMAND: unknown command \"\(raw)\"",
                details: "expected one of \(CNICommand.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        self.command = command
        containerID = value("CNI_CONTAINERID")
        netns = value("CNI_NETNS")
        ifName = value("CNI_IFNAME")
        path = (value("CNI_PATH") ?? "").split(separator: ":").map(String.init)
        args = try CNIArgs(parsing: env["CNI_ARGS"] ?? "")

        var required: [String] = []
        switch command {
        case .add, .check: required = ["CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME"]
        case .del: required = ["CNI_CONTAINERID", "CNI_IFNAME"]
        case .version, .status, .gc: required = []
        }
        let missing = required.filter { value($0) == nil }
        if !missing.isEmpty {
            throw CNIError(.invalidEnvironment, "required env variables [\(missing.joined(separator: ","))] missing")
        }
        if let ifName, !CNIEnvironment.isValidInterfaceName(ifName) {
            throw CNIError(.invalidEnvironment, "CNI_IFNAME: \"\(ifName)\" is not a valid interface name")
        }
        if let containerID, !CNIEnvironment.isValidContainerID(containerID) {
            throw CNIError(
                .invalidEnvironment,
                "CNI_CONTAINERID: \"\(containerID)\" must start with an alphanumeric and contain only [A-Za-z0-9_.-]")
        }
    }

    /// Linux interface names: 1-15 bytes, not "." or "..", no '/', ':' or
    /// whitespace (the spec's rule, from the kernel's dev_valid_name).
    public static func isValidInterfaceName(_ name: String) -> Bool {
        let u = Array(name.utf8)
        guard !u.isEmpty, u.count <= 15, name != ".", name != ".." else { return false }
        return !u.contains { $0 == UInt8(ascii: "/") || $0 == UInt8(ascii: ":") || $0 <= 0x20 || $0 == 0x7F }
    }

    /// The spec: "a plain alphanumeric string, may contain [-._]", starting
    /// with an alphanumeric.
    public static func isValidContainerID(_ id: String) -> Bool {
        guard let first = id.unicodeScalars.first, first.isASCII, isAlnum(first) else { return false }
        return id.unicodeScalars.allSatisfy { $0.isASCII && (isAlnum($0) || $0 == "-" || $0 == "." || $0 == "_") }
    }

    private static func isAlnum(_ s: Unicode.Scalar) -> Bool {
        (s >= "a" && s <= "z") || (s >= "A" && s <= "Z") || (s >= "0" && s <= "9")
    }
}
