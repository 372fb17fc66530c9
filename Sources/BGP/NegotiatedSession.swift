import IPAddressing
import NIOCore

/// What this speaker is configured to be and to offer on one session.
public struct SessionConfiguration: Hashable, Sendable {
    public var localAS: UInt32
    /// The AS the peer must have (§6.2 Bad Peer AS otherwise).
    public var peerAS: UInt32
    public var bgpIdentifier: IPv4Address
    /// Proposed hold time: 0 (no keepalives) or at least 3 seconds.
    public var holdTime: UInt16
    /// A peer proposing a non-zero hold time below this is refused with
    /// Unacceptable Hold Time.
    public var minimumHoldTime: UInt16
    /// First ConnectRetryTimer value; doubled per consecutive failure up to
    /// `connectRetryMaximum` (then jittered, §10).
    public var connectRetryTime: Double
    public var connectRetryMaximum: Double
    /// DelayOpen (§8.1.1): wait this long after the TCP connection before
    /// sending OPEN; nil sends at once.
    public var delayOpenTime: Double?
    /// Only accept connections (§8.1.1 PassiveTcpEstablishment).
    public var passive: Bool
    /// After an error, start again by itself once the IdleHoldTimer expires
    /// (§8.1.1 DampPeerOscillations, with the same backoff).
    public var automaticRestart: Bool
    /// §8.1.1 SendNOTIFICATIONwithoutOPEN.
    public var sendNotificationWithoutOpen: Bool
    /// RFC 9687 SendHoldTime floor (the timer is max(this, 2 × hold time)).
    public var minimumSendHoldTime: Double
    public var families: [AddressFamily]
    public var addPath: [AddPathFamily]
    public var gracefulRestart: GracefulRestartCapability?
    public var extendedMessage: Bool
    public var extendedNextHop: [ExtendedNextHopEntry]
    public var hostname: String?
    public var domainName: String
    /// Capability codes the peer must advertise, or the OPEN is refused with
    /// Unsupported Capability (RFC 5492 §5).
    public var requiredCapabilities: Set<UInt8> = []
    /// Accept any AS but ours from the peer (BIRD's `neighbor … external`,
    /// FRR's `remote-as external`); `peerAS` is then not checked.
    public var anyExternalPeerAS = false

    public init(localAS: UInt32, peerAS: UInt32, bgpIdentifier: IPv4Address, holdTime: UInt16 = 90,
                minimumHoldTime: UInt16 = 3, connectRetryTime: Double = 5, connectRetryMaximum: Double = 120,
                delayOpenTime: Double? = nil, passive: Bool = false, automaticRestart: Bool = true,
                sendNotificationWithoutOpen: Bool = false, minimumSendHoldTime: Double = 480,
                families: [AddressFamily] = [.ipv4Unicast, .ipv6Unicast], addPath: [AddPathFamily] = [],
                gracefulRestart: GracefulRestartCapability? = nil, extendedMessage: Bool = true,
                extendedNextHop: [ExtendedNextHopEntry] = [], hostname: String? = nil, domainName: String = "") {
        self.localAS = localAS
        self.peerAS = peerAS
        self.bgpIdentifier = bgpIdentifier
        self.holdTime = holdTime
        self.minimumHoldTime = minimumHoldTime
        self.connectRetryTime = connectRetryTime
        self.connectRetryMaximum = connectRetryMaximum
        self.delayOpenTime = delayOpenTime
        self.passive = passive
        self.automaticRestart = automaticRestart
        self.sendNotificationWithoutOpen = sendNotificationWithoutOpen
        self.minimumSendHoldTime = minimumSendHoldTime
        self.families = families
        self.addPath = addPath
        self.gracefulRestart = gracefulRestart
        self.extendedMessage = extendedMessage
        self.extendedNextHop = extendedNextHop
        self.hostname = hostname
        self.domainName = domainName
    }

    public var isInternal: Bool { !anyExternalPeerAS && localAS == peerAS }

    /// Checks every field; the error names the first bad one.
    public func validate() throws(SessionConfigurationError) {
        func bad(_ field: String, _ why: String) -> SessionConfigurationError { SessionConfigurationError(field: field, message: why) }
        for (field, asn) in [("localAS", localAS), ("peerAS", peerAS)] {
            // RFC 7607 (AS 0) and RFC 6793 §9 (AS_TRANS is not an AS).
            if asn == 0 || asn == BGPLimits.asTrans { throw bad(field, "AS \(asn) cannot be used") }
        }
        if bgpIdentifier.value == 0 { throw bad("bgpIdentifier", "must not be 0.0.0.0") }
        // §4.2: 0 (no keepalives) or at least 3 seconds.
        if holdTime == 1 || holdTime == 2 { throw bad("holdTime", "must be 0 or at least 3 seconds, not \(holdTime)") }
        if minimumHoldTime == 1 || minimumHoldTime == 2 { throw bad("minimumHoldTime", "must be 0 or at least 3 seconds") }
        if !(connectRetryTime > 0 && connectRetryTime.isFinite) { throw bad("connectRetryTime", "must be a positive number of seconds") }
        if !(connectRetryMaximum >= connectRetryTime && connectRetryMaximum.isFinite) {
            throw bad("connectRetryMaximum", "must be at least connectRetryTime")
        }
        if let d = delayOpenTime, !(d > 0 && d.isFinite) { throw bad("delayOpenTime", "must be a positive number of seconds") }
        if !(minimumSendHoldTime > 0 && minimumSendHoldTime.isFinite) { throw bad("minimumSendHoldTime", "must be a positive number of seconds") }
        if families.isEmpty { throw bad("families", "at least one address family is needed") }
        if let h = hostname, h.utf8.count > 255 { throw bad("hostname", "longer than 255 octets") }
        if domainName.utf8.count > 255 { throw bad("domainName", "longer than 255 octets") }
        if openMessage.encodedCapabilitiesTooLong { throw bad("capabilities", "do not fit in an OPEN message") }
    }

    /// The capabilities this configuration advertises.
    public var capabilities: [Capability] {
        var caps: [Capability] = families.map { .multiprotocol($0) }
        caps += [.routeRefresh, .enhancedRouteRefresh]
        if extendedMessage { caps.append(.extendedMessage) }
        if !extendedNextHop.isEmpty { caps.append(.extendedNextHop(extendedNextHop)) }
        if let g = gracefulRestart { caps.append(.gracefulRestart(g)) }
        if !addPath.isEmpty { caps.append(.addPath(addPath)) }
        if let h = hostname { caps.append(.fqdn(hostname: h, domain: domainName)) }
        return caps
    }

    /// The OPEN this speaker sends.
    public var openMessage: OpenMessage {
        OpenMessage(asNumber: localAS, holdTime: holdTime, bgpIdentifier: bgpIdentifier, capabilities: capabilities)
    }
}

public struct SessionConfigurationError: Error, Hashable, Sendable, CustomStringConvertible {
    public var field: String
    public var message: String
    public var description: String { "\(field): \(message)" }
}

extension OpenMessage {
    var encodedCapabilitiesTooLong: Bool { BGPMessage.open(self).encoded(context: .initial).count > BGPLimits.maxMessageSize }
}

/// The result of the OPEN exchange: what each side may send (RFC 5492 and
/// the capability RFCs).
public struct NegotiatedSession: Hashable, Sendable {
    public var localAS: UInt32
    public var peerAS: UInt32
    public var peerIdentifier: IPv4Address
    /// min(ours, theirs): 0 or ≥ 3 (§4.2).
    public var holdTime: UInt16
    /// holdTime / 3, 0 when holdTime is 0.
    public var keepaliveTime: UInt16
    public var fourOctetAS: Bool
    /// Families both sides advertised (IPv4 unicast when the peer sent no
    /// multiprotocol capability, RFC 4760 §8).
    public var families: Set<AddressFamily>
    /// Families whose received NLRI carry path IDs (we receive, they send).
    public var addPathReceive: Set<AddressFamily>
    /// Families whose sent NLRI carry path IDs (we send, they receive).
    public var addPathSend: Set<AddressFamily>
    public var routeRefresh: Bool
    public var enhancedRouteRefresh: Bool
    public var extendedMessage: Bool
    /// NLRI families the peer accepts with a next hop of another family (RFC 8950).
    public var extendedNextHop: [ExtendedNextHopEntry]
    /// The peer's graceful restart capability, if it sent one.
    public var peerGracefulRestart: GracefulRestartCapability?
    /// Both sides set the N bit (RFC 8538): NOTIFICATIONs other than Hard
    /// Reset keep graceful restart in force.
    public var gracefulNotification: Bool
    public var peerHostname: String?
    /// Everything the peer advertised, unknown capabilities included.
    public var peerCapabilities: [Capability]

    public var isInternal: Bool { localAS == peerAS }

    /// Whether the peer's routes are kept as stale (RFC 4724 helper mode)
    /// after the session ended this way: always for a lost connection or an
    /// expired timer, and after a NOTIFICATION only when both sides set the N
    /// bit and it was not a Hard Reset (RFC 8538 §4).
    public func retainsRoutesAsHelper(after reason: SessionDownReason) -> Bool {
        guard peerGracefulRestart != nil else { return false }
        switch reason {
        case .stopped: return false
        case .connectionLost: return true
        case .notificationSent(let n), .notificationReceived(let n):
            if n.code == NotificationCode.holdTimerExpired.rawValue || n.code == NotificationCode.sendHoldTimerExpired.rawValue {
                return true
            }
            return gracefulNotification && !n.isHardReset
        }
    }

    /// For decoding what the peer sends.
    public var receiveContext: CodecContext {
        CodecContext(fourOctetAS: fourOctetAS, addPath: addPathReceive, extendedMessage: extendedMessage)
    }

    /// For encoding what we send.
    public var sendContext: CodecContext {
        CodecContext(fourOctetAS: fourOctetAS, addPath: addPathSend, extendedMessage: extendedMessage)
    }

    /// Checks the peer's OPEN against the configuration (§6.2, RFC 6286,
    /// RFC 6793) and negotiates. Throws the OPEN Message Error to send.
    public static func negotiate(local: SessionConfiguration, peer open: OpenMessage) throws(BGPError) -> NegotiatedSession {
        let caps = open.capabilities
        let peerAS = open.asNumber
        guard local.anyExternalPeerAS ? peerAS != local.localAS : peerAS == local.peerAS else {
            throw BGPError(.badPeerAS(peerAS), NotificationMessage(open: .badPeerAS))
        }
        // RFC 6793 §4.1: with a 4-octet capability, the 2-octet field holds
        // the AS when it fits and AS_TRANS when it does not.
        let fourOctetCap = caps.contains { if case .fourOctetAS = $0 { true } else { false } }
        if fourOctetCap {
            let expected = peerAS <= 0xFFFF ? UInt16(peerAS) : UInt16(BGPLimits.asTrans)
            if open.myAS != expected && open.myAS != UInt16(BGPLimits.asTrans) {
                throw BGPError(.badPeerAS(UInt32(open.myAS)), NotificationMessage(open: .badPeerAS))
            }
        }
        // RFC 6286 §2.2: an internal peer must not share our identifier.
        if local.isInternal, open.bgpIdentifier == local.bgpIdentifier {
            throw BGPError(.badBGPIdentifier(open.bgpIdentifier.value), NotificationMessage(open: .badBGPIdentifier))
        }
        if open.holdTime != 0, open.holdTime < max(3, local.minimumHoldTime) {
            throw BGPError(.unacceptableHoldTime(open.holdTime), NotificationMessage(open: .unacceptableHoldTime))
        }
        let hold = min(local.holdTime, open.holdTime)
        // RFC 5492 §5: the data lists the missing capabilities as (code,
        // length, value), with the value we advertise for them.
        let peerCodes = Set(caps.map(\.code))
        let missing = local.requiredCapabilities.subtracting(peerCodes).sorted()
        if !missing.isEmpty {
            var data = ByteBuffer()
            for code in missing {
                if let mine = local.openMessage.capabilities.first(where: { $0.code == code }) {
                    var v = ByteBuffer()
                    mine.encodeValue(into: &v)
                    data.writeU8(code)
                    data.writeU8(UInt8(truncatingIfNeeded: v.readableBytes))
                    data.writeBuffer(&v)
                } else {
                    data.writeU8(code)
                    data.writeU8(0)
                }
            }
            throw BGPError(.unsupportedCapability(code: missing[0]), NotificationMessage(open: .unsupportedCapability, data: Array(data.readableBytesView)))
        }

        var peerFamilies: Set<AddressFamily> = []
        var peerAddPath: [AddressFamily: AddPathFamily.Mode] = [:]
        var routeRefresh = false, enhanced = false, extMessage = false
        var extNH: [ExtendedNextHopEntry] = []
        var gr: GracefulRestartCapability?
        var hostname: String?
        for c in caps {
            switch c {
            case .multiprotocol(let f): peerFamilies.insert(f)
            case .addPath(let fs): for f in fs { peerAddPath[f.family] = f.mode }
            case .routeRefresh: routeRefresh = true
            case .enhancedRouteRefresh: enhanced = true
            case .extendedMessage: extMessage = true
            case .extendedNextHop(let es): extNH = es
            case .gracefulRestart(let g): gr = g
            case .fqdn(let h, let d): hostname = d.isEmpty ? h : "\(h).\(d)"
            case .fourOctetAS, .unknown: break
            }
        }
        if !caps.contains(where: { if case .multiprotocol = $0 { true } else { false } }) {
            peerFamilies = [.ipv4Unicast]
        }
        let families = peerFamilies.intersection(local.families)
        var recv: Set<AddressFamily> = [], send: Set<AddressFamily> = []
        for mine in local.addPath where families.contains(mine.family) {
            guard let theirs = peerAddPath[mine.family] else { continue }
            if mine.mode.contains(.receive), theirs.contains(.send) { recv.insert(mine.family) }
            if mine.mode.contains(.send), theirs.contains(.receive) { send.insert(mine.family) }
        }
        let localNH = Set(local.extendedNextHop)
        return NegotiatedSession(
            localAS: local.localAS, peerAS: peerAS, peerIdentifier: open.bgpIdentifier,
            holdTime: hold, keepaliveTime: hold / 3, fourOctetAS: fourOctetCap,
            families: families, addPathReceive: recv, addPathSend: send,
            routeRefresh: routeRefresh, enhancedRouteRefresh: enhanced && routeRefresh,
            extendedMessage: extMessage && local.extendedMessage,
            extendedNextHop: extNH.filter { localNH.contains($0) },
            peerGracefulRestart: gr,
            gracefulNotification: (gr?.notification ?? false) && (local.gracefulRestart?.notification ?? false),
            peerHostname: hostname, peerCapabilities: caps)
    }
}

/// §6.8 connection collision: of two connections to the same peer, the one
/// initiated by the speaker with the higher BGP Identifier survives.
public enum CollisionResolution {
    public enum Keep: Sendable { case locallyInitiated, remotelyInitiated }

    public static func keep(localIdentifier: IPv4Address, remoteIdentifier: IPv4Address) -> Keep {
        localIdentifier.value > remoteIdentifier.value ? .locallyInitiated : .remotelyInitiated
    }
}
