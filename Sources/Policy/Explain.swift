/// A packet for `explain`: what the kernel's rules look at.
public struct PacketProbe: Hashable, Sendable {
    public enum Hook: Hashable, Sendable { case forward, input, output }
    public var hook: Hook
    public var inputInterface: String?
    public var outputInterface: String?
    public var source: NumericAddress
    public var destination: NumericAddress
    public var proto: L4Protocol
    public var sourcePort: UInt16
    public var destinationPort: UInt16
    public var icmpType: UInt8
    public var icmpCode: UInt8
    public var ctState: CTStates

    public init(hook: Hook, inputInterface: String?, outputInterface: String?, source: NumericAddress, destination: NumericAddress,
                proto: L4Protocol, sourcePort: UInt16 = 40000, destinationPort: UInt16 = 0,
                icmpType: UInt8 = 8, icmpCode: UInt8 = 0, ctState: CTStates = .new) {
        self.hook = hook; self.inputInterface = inputInterface; self.outputInterface = outputInterface
        self.source = source; self.destination = destination; self.proto = proto
        self.sourcePort = sourcePort; self.destinationPort = destinationPort
        self.icmpType = icmpType; self.icmpCode = icmpCode; self.ctState = ctState
    }
}

/// The answer of `explain`: the verdict and the rules that decided it.
public struct Explanation: Hashable, Sendable, CustomStringConvertible {
    public struct Step: Hashable, Sendable {
        public var chain: String
        /// 0-based position in the chain; nil for the chain's implicit end.
        public var ruleIndex: Int?
        public var verdict: String
        public var comment: String
    }
    public var allowed: Bool
    /// Rules that decided something (profile rules, fail-closed drops,
    /// established accepts), in evaluation order.
    public var steps: [Step]
    public var summary: String
    /// Rules the packet was compared against: constant in the pod count.
    public var evaluatedRules = 0

    public var description: String {
        var s = (allowed ? "ALLOW" : "DENY") + ": " + summary + "\n"
        for st in steps {
            s += "  \(st.chain)" + (st.ruleIndex.map { "[\($0)]" } ?? "[end]") + " \(st.verdict): \(st.comment)\n"
        }
        return s
    }
}

/// Evaluates a `Ruleset` the way netfilter would: rules in order, `jump`
/// pushes, `goto` replaces, `return` pops, the end of a base chain applies
/// its policy (accept). The same value the kernel is programmed from.
public struct RulesetEvaluator: Sendable {
    public let ruleset: Ruleset
    private let chainsByName: [String: Chain]
    private let setsByName: [String: NamedSet]

    public init(_ ruleset: Ruleset) {
        self.ruleset = ruleset
        chainsByName = Dictionary(ruleset.chains.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        setsByName = Dictionary(ruleset.sets.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
    }

    public func evaluate(_ p: PacketProbe) -> Explanation {
        let base: String
        switch p.hook {
        case .output:
            return Explanation(allowed: true, steps: [], summary: "host to pod traffic (output hook) is not filtered: kubelet probes are allowed")
        case .forward: base = "forward"
        case .input: base = "input"
        }
        var steps: [Explanation.Step] = []
        var stack: [(String, Int)] = []
        var current = base
        var index = 0
        let dispatchChains: Set<String> = [PolicyCompiler.egressDispatch, PolicyCompiler.ingressDispatch]
        var budget = 10_000
        var evaluated = 0
        func done(_ e: Explanation) -> Explanation {
            var e = e
            e.evaluatedRules = evaluated
            return e
        }
        while budget > 0 {
            budget -= 1
            guard let chain = chainsByName[current] else {
                steps.append(.init(chain: current, ruleIndex: nil, verdict: "drop", comment: "missing chain"))
                return done(Explanation(allowed: false, steps: steps, summary: "reference to a missing chain \(current)"))
            }
            if index >= chain.rules.count {
                // Implicit return (or base chain policy).
                if let (c, i) = stack.popLast() { current = c; index = i; continue }
                return done(Explanation(allowed: true, steps: steps, summary: "allowed by the policies of both ends"))
            }
            let rule = chain.rules[index]
            evaluated += 1
            let here = index
            index += 1
            guard rule.matches.allSatisfy({ matches($0, p) }) else { continue }
            var verdict = rule.verdict
            if let (side, map) = rule.dispatch {
                // The interface's group (0 for an interface that is no
                // endpoint's), then the profile element for that group.
                let iface = side == .input ? p.inputInterface : p.outputInterface
                let group = iface.map(ruleset.group(of:)) ?? 0
                guard let element = ruleset.map(map).first(where: { $0.group == group }) else { continue }
                verdict = element.verdict
            }
            guard let v = verdict else { continue }
            let decisive = !(chain.hook != nil && (v == .jump(PolicyCompiler.egressDispatch) || v == .jump(PolicyCompiler.ingressDispatch)))
                && !(dispatchChains.contains(chain.name) && rule.dispatch != nil)
            if decisive {
                steps.append(.init(chain: chain.name, ruleIndex: here, verdict: v.description, comment: rule.comment))
            }
            switch v {
            case .accept:
                return done(Explanation(allowed: true, steps: steps, summary: rule.comment))
            case .drop:
                return done(Explanation(allowed: false, steps: steps, summary: rule.comment))
            case .return:
                guard let (c, i) = stack.popLast() else {
                    return done(Explanation(allowed: true, steps: steps, summary: "allowed by the policies of both ends"))
                }
                current = c; index = i
            case .jump(let target):
                stack.append((current, index))
                current = target; index = 0
            case .goto(let target):
                current = target; index = 0
            }
        }
        return done(Explanation(allowed: false, steps: steps, summary: "evaluation did not terminate"))
    }

    func matches(_ m: Match, _ p: PacketProbe) -> Bool {
        switch m {
        case let .ctState(s): return !s.intersection(p.ctState).isEmpty
        case let .interfacePrefix(side, prefix):
            return (side == .input ? p.inputInterface : p.outputInterface)?.hasPrefix(prefix) ?? false
        case let .family(f): return p.source.family == f
        case let .addressInSet(side, set, f):
            let a = side == .source ? p.source : p.destination
            return a.family == f && (setsByName[set]?.contains(a) ?? false)
        case let .proto(pr): return p.proto == pr
        case let .port(side, a, b):
            guard p.proto.hasPorts else { return false }
            let port = side == .source ? p.sourcePort : p.destinationPort
            return (a...b).contains(port)
        case let .destinationInTupleSet(set, f):
            guard p.destination.family == f, p.proto.hasPorts else { return false }
            return setsByName[set]?.contains(AddressProtoPort(address: p.destination, proto: p.proto, port: p.destinationPort)) ?? false
        case let .icmp(f, type, code):
            let proto: L4Protocol = f == .ipv4 ? .icmp : .icmpv6
            return p.source.family == f && p.proto == proto && p.icmpType == type && (code.map { $0 == p.icmpCode } ?? true)
        }
    }
}

/// `explain` in terms of endpoints: finds the hooks and interfaces a packet
/// between two endpoints (or addresses) would meet on this node.
public struct PolicyExplainer: Sendable {
    public let inventory: EndpointInventory
    public let evaluator: RulesetEvaluator
    /// The interface packets to and from non-local addresses use.
    public var uplink = "uplink0"

    public init(ruleset: Ruleset, inventory: EndpointInventory) {
        self.inventory = inventory
        evaluator = RulesetEvaluator(ruleset)
    }

    public enum Party: Hashable, Sendable {
        case endpoint(Endpoint)
        case address(NumericAddress)
        case host
    }

    public enum ResolveError: Error, CustomStringConvertible {
        case unknownEndpoint(String), noAddress(String, IPFamily?)
        public var description: String {
            switch self {
            case .unknownEndpoint(let s): "unknown endpoint or address '\(s)' (use an IP, ns/pod or 'host')"
            case .noAddress(let s, _): "endpoint \(s) has no usable address"
            }
        }
    }

    public func resolve(_ text: String) throws(ResolveError) -> Party {
        if text == "host" { return .host }
        if let a = NumericAddress(text) {
            return inventory.endpoint(address: a).map { .endpoint($0) } ?? .address(a)
        }
        guard let ep = inventory.endpoint(named: text) else { throw .unknownEndpoint(text) }
        return .endpoint(ep)
    }

    public func explain(from: Party, to: Party, proto: L4Protocol, port: UInt16,
                        fromAddress: NumericAddress? = nil, toAddress: NumericAddress? = nil) throws(ResolveError) -> Explanation {
        func address(_ party: Party, _ preferred: IPFamily?) throws(ResolveError) -> NumericAddress? {
            switch party {
            case .address(let a): return a
            case .host: return nil
            case .endpoint(let e):
                guard let a = e.addresses.first(where: { preferred == nil || $0.family == preferred }) else {
                    throw .noAddress(e.id, preferred)
                }
                return a
            }
        }
        var src = fromAddress
        if src == nil { src = try address(from, nil) }
        var dst = toAddress
        if dst == nil { dst = try address(to, src?.family) }
        let family = src?.family ?? dst?.family ?? .ipv4
        let hostAddr = NumericAddress(family: family, value: family == .ipv4 ? 0xA9FE_0101 : 1)
        let iif: String?
        switch from {
        case .endpoint(let e): iif = e.interface ?? uplink
        case .address: iif = uplink
        case .host: iif = nil
        }
        let oif: String?
        switch to {
        case .endpoint(let e): oif = e.interface ?? uplink
        case .address: oif = uplink
        case .host: oif = nil
        }
        let hook: PacketProbe.Hook = from == .host ? .output : (to == .host ? .input : .forward)
        let probe = PacketProbe(hook: hook, inputInterface: iif, outputInterface: hook == .input ? nil : oif,
                                source: src ?? hostAddr, destination: dst ?? hostAddr, proto: proto,
                                destinationPort: port, icmpType: 8, icmpCode: 0)
        return evaluator.evaluate(probe)
    }
}
