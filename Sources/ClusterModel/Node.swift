/// A node as the cluster sees it: its name and labels (pool node
/// selectors match them; `kubernetes.io/hostname` is always the name).
/// The agent adds addresses, AS and liveness when it registers nodes.
public struct NodeRecord: Codable, Hashable, Sendable {
    public var name: String
    public var labels: [String: String]
    public init(name: String, labels: [String: String] = [:]) {
        self.name = name
        self.labels = labels
    }
}

