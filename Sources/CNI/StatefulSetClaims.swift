import JSON
/// Sticky claims derived from the workload (opt-in, `ipam.statefulSetClaims`):
/// a pod that is a StatefulSet member gets the claim
/// `<namespace>/<statefulset>/<ordinal>`, so the same member gets the same
/// addresses on every start, on any node, until `caracal ipam release
/// --claim`. An explicit claim (`args.cni.claim`, `CARACAL_CLAIM`) wins.
///
/// A pod is a member when its namespace is selected and either
/// - `args.cni.labels` carries `statefulset.kubernetes.io/pod-name` (set by
///   the StatefulSet controller on every member) of the form
///   `<statefulset>-<ordinal>`, with `apps.kubernetes.io/pod-index` (Kubernetes
///   1.28+) agreeing on the ordinal when present; or
/// - `matchPodName` is on and `K8S_POD_NAME` has that form (runtimes that
///   pass no labels; a bare pod named like a member counts too, hence the
///   namespace selection).
public struct StatefulSetClaims: Hashable, Sendable {
    /// Namespaces where claims are derived; `"*"` selects every namespace.
    public var namespaces: [String]
    /// Whether `K8S_POD_NAME` alone identifies a member (default true).
    public var matchPodName: Bool

    public static let podNameLabel = "statefulset.kubernetes.io/pod-name"
    public static let podIndexLabel = "apps.kubernetes.io/pod-index"

    public init(namespaces: [String], matchPodName: Bool = true) {
        self.namespaces = namespaces
        self.matchPodName = matchPodName
    }

    init(_ r: FieldReader) throws(CNIError) {
        guard let list = try r.stringArray("namespaces"), !list.isEmpty else {
            throw CNIError.invalidField(r.field("namespaces"), "missing (list the namespaces, or \"*\" for all)")
        }
        for (i, ns) in list.enumerated() where ns.isEmpty {
            throw CNIError.invalidField("\(r.field("namespaces"))[\(i)]", "empty namespace")
        }
        namespaces = list
        matchPodName = try r.bool("matchPodName") ?? true
    }

    public var json: JSONValue {
        ["namespaces": .array(namespaces.map { .string($0) }), "matchPodName": .bool(matchPodName)]
    }

    /// The claim name for this pod, or nil when it is not a member of a
    /// StatefulSet in a selected namespace.
    public func claim(namespace: String?, pod: String?, labels: [Label]) -> String? {
        guard let namespace, !namespace.isEmpty, namespaces.contains("*") || namespaces.contains(namespace) else { return nil }
        let label = { (key: String) in labels.last { $0.key == key }?.value }
        let member: (set: String, ordinal: Int)?
        if let name = label(StatefulSetClaims.podNameLabel) {
            member = StatefulSetClaims.member(name)
            if let index = label(StatefulSetClaims.podIndexLabel), let member, StatefulSetClaims.ordinal(index) != member.ordinal {
                return nil  // labels that disagree identify nothing
            }
        } else if matchPodName, let pod {
            member = StatefulSetClaims.member(pod)
        } else {
            member = nil
        }
        guard let member else { return nil }
        return "\(namespace)/\(member.set)/\(member.ordinal)"
    }

    /// `<set>-<ordinal>` → (set, ordinal). The ordinal is a decimal without
    /// leading zeros (how the StatefulSet controller names members).
    public static func member(_ podName: String) -> (set: String, ordinal: Int)? {
        guard let dash = podName.lastIndex(of: "-"), dash != podName.startIndex else { return nil }
        guard let ordinal = ordinal(String(podName[podName.index(after: dash)...])) else { return nil }
        return (String(podName[..<dash]), ordinal)
    }

    static func ordinal(_ text: String) -> Int? {
        guard !text.isEmpty, text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), text == "0" || !text.hasPrefix("0") else { return nil }
        return Int(text)
    }
}
