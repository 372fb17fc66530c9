import NIOCore

/// Capability codes (IANA "Capability Codes").
public enum CapabilityCode {
    public static let multiprotocol: UInt8 = 1
    public static let routeRefresh: UInt8 = 2
    public static let extendedNextHop: UInt8 = 5
    public static let extendedMessage: UInt8 = 6
    public static let gracefulRestart: UInt8 = 64
    public static let fourOctetAS: UInt8 = 65
    public static let addPath: UInt8 = 69
    public static let enhancedRouteRefresh: UInt8 = 70
    public static let longLivedGracefulRestart: UInt8 = 71
    public static let fqdn: UInt8 = 73

    public static func name(_ code: UInt8) -> String {
        switch code {
        case multiprotocol: "multiprotocol"
        case routeRefresh: "route-refresh"
        case extendedNextHop: "extended-next-hop"
        case extendedMessage: "extended-message"
        case gracefulRestart: "graceful-restart"
        case fourOctetAS: "4-octet-as"
        case addPath: "add-path"
        case enhancedRouteRefresh: "enhanced-route-refresh"
        case longLivedGracefulRestart: "long-lived-graceful-restart"
        case fqdn: "fqdn"
        case 128: "route-refresh-old-cisco"
        default: "capability-\(code)"
        }
    }
}

/// RFC 4724 graceful restart capability, with the RFC 8538 N bit.
public struct GracefulRestartCapability: Hashable, Sendable {
    public struct Family: Hashable, Sendable {
        public var family: AddressFamily
        /// Per-AFI flags octet; bit 0x80 is F (forwarding state preserved).
        public var flags: UInt8
        public init(_ family: AddressFamily, forwardingPreserved: Bool) {
            self.family = family
            flags = forwardingPreserved ? 0x80 : 0
        }
        public init(family: AddressFamily, flags: UInt8) {
            self.family = family
            self.flags = flags
        }
        public var forwardingPreserved: Bool { flags & 0x80 != 0 }
    }

    /// The 4 high bits of the first octet: 0x8 is R (restarting), 0x4 is N
    /// (RFC 8538: graceful notification supported).
    public var flags: UInt8
    /// 12 bits, seconds.
    public var restartTime: UInt16
    public var families: [Family]

    public init(restarting: Bool = false, notification: Bool = false, restartTime: UInt16, families: [Family]) {
        flags = (restarting ? 0x8 : 0) | (notification ? 0x4 : 0)
        self.restartTime = min(restartTime, 0xFFF)
        self.families = families
    }

    public init(flags: UInt8, restartTime: UInt16, families: [Family]) {
        self.flags = flags & 0xF
        self.restartTime = restartTime & 0xFFF
        self.families = families
    }

    public var restarting: Bool { flags & 0x8 != 0 }
    public var notification: Bool { flags & 0x4 != 0 }
}

/// RFC 7911 ADD-PATH capability entry.
public struct AddPathFamily: Hashable, Sendable {
    public struct Mode: OptionSet, Hashable, Sendable {
        public var rawValue: UInt8
        public init(rawValue: UInt8) { self.rawValue = rawValue }
        public static let receive = Mode(rawValue: 1)
        public static let send = Mode(rawValue: 2)
        public static let both: Mode = [.receive, .send]
    }
    public var family: AddressFamily
    public var mode: Mode
    public init(_ family: AddressFamily, _ mode: Mode) {
        self.family = family
        self.mode = mode
    }
}

/// RFC 8950 extended next hop capability entry: NLRI of `family` may carry
/// a next hop of `nextHopAFI`.
public struct ExtendedNextHopEntry: Hashable, Sendable {
    public var nlriAFI: AFI
    /// 16 bits on the wire (RFC 8950 §3).
    public var nlriSAFI: UInt16
    public var nextHopAFI: AFI
    public init(nlriAFI: AFI, nlriSAFI: UInt16, nextHopAFI: AFI) {
        self.nlriAFI = nlriAFI
        self.nlriSAFI = nlriSAFI
        self.nextHopAFI = nextHopAFI
    }
    public static let ipv4UnicastOverIPv6 = ExtendedNextHopEntry(nlriAFI: .ipv4, nlriSAFI: 1, nextHopAFI: .ipv6)
}

/// One capability (RFC 5492). Unknown ones are kept with their raw value
/// so they can be shown and re-encoded.
public enum Capability: Hashable, Sendable {
    case multiprotocol(AddressFamily)
    case routeRefresh
    case extendedNextHop([ExtendedNextHopEntry])
    case extendedMessage
    case gracefulRestart(GracefulRestartCapability)
    case fourOctetAS(UInt32)
    case addPath([AddPathFamily])
    case enhancedRouteRefresh
    /// draft-walton-bgp-hostname-capability: hostname and domain name.
    case fqdn(hostname: String, domain: String)
    case unknown(code: UInt8, value: [UInt8])

    public var code: UInt8 {
        switch self {
        case .multiprotocol: CapabilityCode.multiprotocol
        case .routeRefresh: CapabilityCode.routeRefresh
        case .extendedNextHop: CapabilityCode.extendedNextHop
        case .extendedMessage: CapabilityCode.extendedMessage
        case .gracefulRestart: CapabilityCode.gracefulRestart
        case .fourOctetAS: CapabilityCode.fourOctetAS
        case .addPath: CapabilityCode.addPath
        case .enhancedRouteRefresh: CapabilityCode.enhancedRouteRefresh
        case .fqdn: CapabilityCode.fqdn
        case .unknown(let c, _): c
        }
    }

    /// Parses one capability value. Known codes with a value of the wrong
    /// shape are an error: accepting them silently would negotiate nonsense.
    static func decode(code: UInt8, value r: inout WireReader) throws(BGPError) -> Capability {
        func bad() -> BGPError {
            BGPError(.malformedCapability(code: code), NotificationMessage(.openMessageError, subcode: 0))
        }
        let n = r.remaining
        switch code {
        case CapabilityCode.multiprotocol:
            guard n == 4, let afi = r.u16(), let _ = r.u8(), let safi = r.u8() else { throw bad() }
            return .multiprotocol(AddressFamily(afi: AFI(rawValue: afi), safi: SAFI(rawValue: safi)))
        case CapabilityCode.routeRefresh:
            guard n == 0 else { throw bad() }
            return .routeRefresh
        case CapabilityCode.enhancedRouteRefresh:
            guard n == 0 else { throw bad() }
            return .enhancedRouteRefresh
        case CapabilityCode.extendedMessage:
            guard n == 0 else { throw bad() }
            return .extendedMessage
        case CapabilityCode.fourOctetAS:
            guard n == 4, let asn = r.u32() else { throw bad() }
            return .fourOctetAS(asn)
        case CapabilityCode.extendedNextHop:
            guard n % 6 == 0 else { throw bad() }
            var entries: [ExtendedNextHopEntry] = []
            while let a = r.u16(), let s = r.u16(), let h = r.u16() {
                entries.append(ExtendedNextHopEntry(nlriAFI: AFI(rawValue: a), nlriSAFI: s, nextHopAFI: AFI(rawValue: h)))
            }
            return .extendedNextHop(entries)
        case CapabilityCode.gracefulRestart:
            guard n >= 2, (n - 2) % 4 == 0, let head = r.u16() else { throw bad() }
            var fams: [GracefulRestartCapability.Family] = []
            while let afi = r.u16(), let safi = r.u8(), let flags = r.u8() {
                fams.append(.init(family: AddressFamily(afi: AFI(rawValue: afi), safi: SAFI(rawValue: safi)), flags: flags))
            }
            return .gracefulRestart(GracefulRestartCapability(flags: UInt8(head >> 12), restartTime: head & 0xFFF, families: fams))
        case CapabilityCode.addPath:
            guard n % 4 == 0 else { throw bad() }
            var fams: [AddPathFamily] = []
            while let afi = r.u16(), let safi = r.u8(), let mode = r.u8() {
                // RFC 7911 §4: values other than 1..3 are an error.
                guard (1...3).contains(mode) else { throw bad() }
                fams.append(AddPathFamily(AddressFamily(afi: AFI(rawValue: afi), safi: SAFI(rawValue: safi)), AddPathFamily.Mode(rawValue: mode)))
            }
            return .addPath(fams)
        case CapabilityCode.fqdn:
            guard let hl = r.u8(), let h = r.bytes(Int(hl)), let dl = r.u8(), let d = r.bytes(Int(dl)), r.isAtEnd
            else { throw bad() }
            // Kept only if it is text we can show and re-encode exactly.
            guard let hs = String(validating: h, as: UTF8.self), let ds = String(validating: d, as: UTF8.self)
            else { return .unknown(code: code, value: [hl] + h + [dl] + d) }
            return .fqdn(hostname: hs, domain: ds)
        default:
            return .unknown(code: code, value: r.rest())
        }
    }

    func encodeValue(into b: inout ByteBuffer) {
        switch self {
        case .multiprotocol(let f):
            b.writeU16(f.afi.rawValue); b.writeU8(0); b.writeU8(f.safi.rawValue)
        case .routeRefresh, .enhancedRouteRefresh, .extendedMessage:
            break
        case .fourOctetAS(let a):
            b.writeU32(a)
        case .extendedNextHop(let es):
            for e in es { b.writeU16(e.nlriAFI.rawValue); b.writeU16(e.nlriSAFI); b.writeU16(e.nextHopAFI.rawValue) }
        case .gracefulRestart(let g):
            b.writeU16(UInt16(g.flags & 0xF) << 12 | (g.restartTime & 0xFFF))
            for f in g.families { b.writeU16(f.family.afi.rawValue); b.writeU8(f.family.safi.rawValue); b.writeU8(f.flags) }
        case .addPath(let fs):
            for f in fs { b.writeU16(f.family.afi.rawValue); b.writeU8(f.family.safi.rawValue); b.writeU8(f.mode.rawValue) }
        case .fqdn(let h, let d):
            let hb = Array(h.utf8.prefix(255)), db = Array(d.utf8.prefix(255))
            b.writeU8(UInt8(hb.count)); b.writeBytes(hb); b.writeU8(UInt8(db.count)); b.writeBytes(db)
        case .unknown(_, let v):
            b.writeBytes(v)
        }
    }
}

extension Capability: CustomStringConvertible {
    public var description: String {
        switch self {
        case .multiprotocol(let f): "multiprotocol \(f)"
        case .routeRefresh: "route-refresh"
        case .enhancedRouteRefresh: "enhanced-route-refresh"
        case .extendedMessage: "extended-message"
        case .fourOctetAS(let a): "4-octet-as \(a)"
        case .extendedNextHop(let es):
            "extended-next-hop " + es.map { "\($0.nlriAFI)/\($0.nlriSAFI) via \($0.nextHopAFI)" }.joined(separator: ", ")
        case .gracefulRestart(let g):
            "graceful-restart restart-time \(g.restartTime)s" + (g.restarting ? " R" : "") + (g.notification ? " N" : "")
                + g.families.map { " \($0.family)\($0.forwardingPreserved ? "(F)" : "")" }.joined()
        case .addPath(let fs):
            "add-path " + fs.map { f in
                "\(f.family) \(f.mode == .both ? "send/receive" : f.mode.contains(.send) ? "send" : "receive")"
            }.joined(separator: ", ")
        case .fqdn(let h, let d): "fqdn \(h)" + (d.isEmpty ? "" : ".\(d)")
        case .unknown(let c, let v): "\(CapabilityCode.name(c)) (\(c)) \(v.hex)"
        }
    }
}
