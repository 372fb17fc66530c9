import Policy

/// A pod of the x/y/z × a/b/c topology.
struct Pod: Hashable, CustomStringConvertible {
    var ns: String, name: String
    var description: String { "\(ns)/\(name)" }
    init(_ id: String) {
        let p = id.split(separator: "/").map(String.init)
        ns = p[0]; name = p[1]
    }
    static let all = ["x", "y", "z"].flatMap { ns in ["a", "b", "c"].map { Pod("\(ns)/\($0)") } }
}

/// One policy scenario and its expected reachability, written from the
/// Kubernetes/Caracal semantics by hand (never derived from the compiler).
struct Scenario: CustomStringConvertible {
    var name: String
    var yaml: String
    /// (port, protocol, expected(from, to)).
    var checks: [(UInt16, L4Protocol, (Pod, Pod) -> Bool)]
    var description: String { name }
}

func k8s(_ ns: String, _ name: String, _ spec: String) -> String {
    "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: \(name), namespace: \(ns)}\nspec:\n"
        + spec.split(separator: "\n").map { "  " + $0 }.joined(separator: "\n") + "\n"
}

func gnp(_ name: String, _ spec: String) -> String {
    "---\napiVersion: caracal.io/v1\nkind: GlobalNetworkPolicy\nmetadata: {name: \(name)}\nspec:\n"
        + spec.split(separator: "\n").map { "  " + $0 }.joined(separator: "\n") + "\n"
}

func tcp80(_ f: @escaping (Pod, Pod) -> Bool) -> [(UInt16, L4Protocol, (Pod, Pod) -> Bool)] { [(80, .tcp, f)] }

nonisolated(unsafe) let scenarios: [Scenario] = [
    Scenario(name: "no policy", yaml: "", checks: [(80, .tcp, { _, _ in true }), (81, .udp, { _, _ in true })]),
    Scenario(name: "default deny ingress", yaml: k8s("x", "deny", "podSelector: {}\npolicyTypes: [Ingress]"),
             checks: [(80, .tcp, { _, t in t.ns != "x" }), (80, .udp, { _, t in t.ns != "x" })]),
    Scenario(name: "default deny egress", yaml: k8s("x", "deny", "podSelector: {}\npolicyTypes: [Egress]"),
             checks: [(80, .tcp, { f, _ in f.ns != "x" }), (81, .udp, { f, _ in f.ns != "x" })]),
    Scenario(name: "default deny both", yaml: k8s("x", "deny", "podSelector: {}\npolicyTypes: [Ingress, Egress]"),
             checks: tcp80 { f, t in f.ns != "x" && t.ns != "x" }),
    Scenario(name: "allow from same namespace", yaml: k8s("x", "same", "podSelector: {}\ningress: [{from: [{podSelector: {}}]}]"),
             checks: tcp80 { f, t in t.ns != "x" || f.ns == "x" }),
    Scenario(name: "allow from namespace selector", yaml: k8s("x", "from-y", "podSelector: {}\ningress: [{from: [{namespaceSelector: {matchLabels: {ns: y}}}]}]"),
             checks: tcp80 { f, t in t.ns != "x" || f.ns == "y" }),
    Scenario(name: "pod AND namespace selector", yaml: k8s("x", "and", """
        podSelector: {matchLabels: {pod: a}}
        ingress: [{from: [{namespaceSelector: {matchLabels: {ns: y}}, podSelector: {matchLabels: {pod: b}}}]}]
        """), checks: tcp80 { f, t in t.description != "x/a" || f.description == "y/b" }),
    Scenario(name: "pod OR namespace selector", yaml: k8s("x", "or", """
        podSelector: {matchLabels: {pod: a}}
        ingress: [{from: [{namespaceSelector: {matchLabels: {ns: y}}}, {podSelector: {matchLabels: {pod: b}}}]}]
        """), checks: tcp80 { f, t in t.description != "x/a" || f.ns == "y" || f.description == "x/b" }),
    Scenario(name: "namespace NotIn expression", yaml: k8s("x", "notin", """
        podSelector: {matchLabels: {pod: a}}
        ingress: [{from: [{namespaceSelector: {matchExpressions: [{key: ns, operator: NotIn, values: [y]}]}}]}]
        """), checks: tcp80 { f, t in t.description != "x/a" || f.ns != "y" }),
    Scenario(name: "pod In expression in all namespaces", yaml: k8s("x", "in", """
        podSelector: {matchLabels: {pod: a}}
        ingress: [{from: [{namespaceSelector: {}, podSelector: {matchExpressions: [{key: pod, operator: In, values: [b, c]}]}}]}]
        """), checks: tcp80 { f, t in t.description != "x/a" || f.name != "a" }),
    Scenario(name: "ipBlock with except", yaml: k8s("x", "block", """
        podSelector: {matchLabels: {pod: a}}
        ingress: [{from: [{ipBlock: {cidr: 10.99.2.0/24, except: [10.99.2.2/32]}}]}]
        """), checks: tcp80 { f, t in t.description != "x/a" || (f.ns == "y" && f.name != "b") }),
    Scenario(name: "egress ipBlock", yaml: k8s("x", "egress-block", """
        podSelector: {matchLabels: {pod: a}}
        policyTypes: [Egress]
        egress: [{to: [{ipBlock: {cidr: 10.99.3.0/24}}]}]
        """), checks: tcp80 { f, t in f.description != "x/a" || t.ns == "z" }),
    Scenario(name: "named port ingress", yaml: k8s("x", "named", """
        podSelector: {matchLabels: {pod: a}}
        ingress: [{ports: [{port: serve-81-tcp}]}]
        """), checks: [(80, .tcp, { _, t in t.description != "x/a" }), (81, .tcp, { _, _ in true }), (81, .udp, { _, t in t.description != "x/a" })]),
    Scenario(name: "numbered port and protocol", yaml: k8s("x", "port80", """
        podSelector: {matchLabels: {pod: a}}
        ingress: [{ports: [{port: 80, protocol: TCP}]}]
        """), checks: [(80, .tcp, { _, _ in true }), (81, .tcp, { _, t in t.description != "x/a" }), (80, .udp, { _, t in t.description != "x/a" })]),
    Scenario(name: "endPort range", yaml: k8s("x", "range", """
        podSelector: {matchLabels: {pod: a}}
        ingress: [{ports: [{port: 79, endPort: 80, protocol: TCP}, {port: 81, endPort: 90, protocol: UDP}]}]
        """), checks: [(80, .tcp, { _, _ in true }), (81, .tcp, { _, t in t.description != "x/a" }),
                       (81, .udp, { _, _ in true }), (80, .udp, { _, t in t.description != "x/a" })]),
    Scenario(name: "union of policies", yaml: k8s("x", "from-y", """
        podSelector: {matchLabels: {pod: a}}
        ingress: [{from: [{namespaceSelector: {matchLabels: {ns: y}}}]}]
        """) + k8s("x", "from-zc", """
        podSelector: {matchLabels: {pod: a}}
        ingress: [{from: [{namespaceSelector: {matchLabels: {ns: z}}, podSelector: {matchLabels: {pod: c}}}]}]
        """), checks: tcp80 { f, t in t.description != "x/a" || f.ns == "y" || f.description == "z/c" }),
    Scenario(name: "egress DNS only", yaml: k8s("x", "dns-only", """
        podSelector: {matchLabels: {pod: a}}
        policyTypes: [Egress]
        egress: [{ports: [{port: 53, protocol: UDP}, {port: 53, protocol: TCP}]}]
        """), checks: [(53, .udp, { _, _ in true }), (80, .tcp, { f, _ in f.description != "x/a" }), (80, .udp, { f, _ in f.description != "x/a" })]),
    Scenario(name: "egress and ingress both must allow", yaml: k8s("x", "to-y", """
        podSelector: {}
        policyTypes: [Egress]
        egress: [{to: [{namespaceSelector: {matchLabels: {ns: y}}}]}]
        """) + k8s("y", "deny", "podSelector: {matchLabels: {pod: a}}\npolicyTypes: [Ingress]"),
             checks: tcp80 { f, t in (f.ns != "x" || t.ns == "y") && t.description != "y/a" }),
    Scenario(name: "allow-all rule unions with deny-all", yaml: k8s("x", "deny", "podSelector: {}\npolicyTypes: [Ingress]")
             + k8s("x", "allow", "podSelector: {}\ningress: [{}]"), checks: tcp80 { _, _ in true }),
    Scenario(name: "selector matching nothing isolates nothing", yaml: k8s("x", "nothing", "podSelector: {matchLabels: {pod: zzz}}\npolicyTypes: [Ingress, Egress]"),
             checks: tcp80 { _, _ in true }),
    Scenario(name: "named UDP port", yaml: k8s("x", "named-udp", """
        podSelector: {matchLabels: {pod: a}}
        ingress: [{ports: [{port: serve-81-udp, protocol: UDP}]}]
        """), checks: [(81, .udp, { _, _ in true }), (80, .udp, { _, t in t.description != "x/a" }), (81, .tcp, { _, t in t.description != "x/a" })]),
    Scenario(name: "egress named port to namespace", yaml: k8s("x", "egress-named", """
        podSelector: {matchLabels: {pod: a}}
        policyTypes: [Egress]
        egress: [{to: [{namespaceSelector: {matchLabels: {ns: y}}}], ports: [{port: serve-81-tcp}]}]
        """), checks: [(81, .tcp, { f, t in f.description != "x/a" || t.ns == "y" }), (80, .tcp, { f, _ in f.description != "x/a" })]),
    Scenario(name: "global Deny before Allow", yaml: gnp("deny-z", """
        order: 10
        ingress: [{action: Deny, source: {namespaceSelector: "ns == 'z'"}}]
        """) + gnp("allow-rest", "order: 20\ningress: [{action: Allow}]"), checks: tcp80 { f, _ in f.ns != "z" }),
    Scenario(name: "global Deny then Pass to namespaced", yaml: gnp("deny-b", """
        order: 10
        namespaceSelector: "ns == 'x'"
        ingress:
          - {action: Deny, source: {selector: "pod == 'b'"}}
          - {action: Pass}
        """) + k8s("x", "same", "podSelector: {}\ningress: [{from: [{podSelector: {}}]}]"),
             checks: tcp80 { f, t in t.ns != "x" || (f.ns == "x" && f.name != "b") }),
    Scenario(name: "global Pass hands over", yaml: gnp("pass-all", "ingress: [{action: Pass}]")
             + k8s("x", "deny", "podSelector: {}\npolicyTypes: [Ingress]"), checks: tcp80 { _, t in t.ns != "x" }),
    Scenario(name: "global Allow overrides namespaced deny", yaml: gnp("allow-y", """
        order: 5
        namespaceSelector: "ns == 'x'"
        ingress:
          - {action: Allow, source: {namespaceSelector: "ns == 'y'"}}
          - {action: Pass}
        """) + k8s("x", "deny", "podSelector: {}\npolicyTypes: [Ingress]"), checks: tcp80 { f, t in t.ns != "x" || f.ns == "y" }),
    Scenario(name: "global end of tier drops", yaml: gnp("only-z", """
        selector: "pod == 'a'"
        namespaceSelector: "ns == 'x'"
        ingress: [{action: Allow, source: {namespaceSelector: "ns == 'z'"}}]
        """), checks: tcp80 { f, t in t.description != "x/a" || f.ns == "z" }),
    Scenario(name: "global egress Deny to nets", yaml: gnp("no-y", """
        types: [Egress]
        egress:
          - {action: Deny, destination: {nets: [10.99.2.0/24]}}
          - {action: Allow}
        """), checks: tcp80 { _, t in t.ns != "y" }),
    Scenario(name: "global notNets", yaml: gnp("not-z", """
        namespaceSelector: "ns == 'x'"
        ingress: [{action: Allow, source: {notNets: [10.99.3.0/24]}}]
        """), checks: tcp80 { f, t in t.ns != "x" || f.ns != "z" }),
    Scenario(name: "global protocol and port", yaml: gnp("no-81", """
        ingress:
          - {action: Deny, protocol: TCP, destination: {ports: [81]}}
          - {action: Allow}
        """), checks: [(80, .tcp, { _, _ in true }), (81, .tcp, { _, _ in false }), (81, .udp, { _, _ in true })]),
    Scenario(name: "global Log continues", yaml: gnp("log-then-allow", """
        ingress:
          - {action: Log, protocol: TCP}
          - {action: Allow}
        """), checks: tcp80 { _, _ in true }),
    Scenario(name: "global egress selector and set expression", yaml: gnp("c-not-to-x", """
        selector: "pod in {'c'} && !has(legacy)"
        types: [Egress]
        egress:
          - {action: Deny, destination: {namespaceSelector: "ns == 'x' || ns == 'zz'"}}
          - {action: Allow}
        """), checks: tcp80 { f, t in f.name != "c" || t.ns != "x" }),
    Scenario(name: "global port range and named port", yaml: gnp("ranges", """
        namespaceSelector: "ns == 'y'"
        ingress:
          - {action: Allow, protocol: TCP, destination: {ports: ["79:80"]}}
          - {action: Allow, protocol: UDP, destination: {ports: [serve-81-udp]}}
        """), checks: [(80, .tcp, { _, _ in true }), (81, .tcp, { _, t in t.ns != "y" }), (81, .udp, { _, _ in true }),
                       (80, .udp, { _, t in t.ns != "y" })]),
]
