/// RFC 5880 §4.1 session states, as the 2-bit Sta field carries them.
public enum BFDState: UInt8, Hashable, Sendable, CaseIterable, CustomStringConvertible {
    case adminDown = 0
    case down = 1
    case initial = 2
    case up = 3

    public var description: String {
        switch self {
        case .adminDown: "AdminDown"
        case .down: "Down"
        case .initial: "Init"
        case .up: "Up"
        }
    }
}

/// RFC 5880 §4.1 diagnostic codes (5 bits). Values 9–31 are reserved but
/// kept as received, so a decoded packet re-encodes to the same bytes.
public struct BFDDiagnostic: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt8

    /// Values above 31 do not fit the field: nil.
    public init?(rawValue: UInt8) {
        guard rawValue < 32 else { return nil }
        self.rawValue = rawValue
    }

    private init(_ v: UInt8) { rawValue = v }

    public static let none = BFDDiagnostic(0)
    public static let controlDetectionTimeExpired = BFDDiagnostic(1)
    public static let echoFunctionFailed = BFDDiagnostic(2)
    public static let neighborSignaledSessionDown = BFDDiagnostic(3)
    public static let forwardingPlaneReset = BFDDiagnostic(4)
    public static let pathDown = BFDDiagnostic(5)
    public static let concatenatedPathDown = BFDDiagnostic(6)
    public static let administrativelyDown = BFDDiagnostic(7)
    public static let reverseConcatenatedPathDown = BFDDiagnostic(8)

    public var description: String {
        let names = ["No Diagnostic", "Control Detection Time Expired", "Echo Function Failed", "Neighbor Signaled Session Down",
                     "Forwarding Plane Reset", "Path Down", "Concatenated Path Down", "Administratively Down",
                     "Reverse Concatenated Path Down"]
        return Int(rawValue) < names.count ? names[Int(rawValue)] : "Reserved (\(rawValue))"
    }
}

/// The optional authentication section (RFC 5880 §4.2), kept opaque:
/// Caracal configures no authentication, so a session discards any packet
/// that carries one (§6.8.6), but the codec still frames it.
public struct BFDAuthentication: Hashable, Sendable {
    public var type: UInt8
    /// What follows Auth Type and Auth Len (Auth Len = 2 + data.count).
    public var data: [UInt8]

    public init(type: UInt8, data: [UInt8]) {
        self.type = type
        self.data = data
    }
}

/// A BFD Control packet (RFC 5880 §4.1), intervals in microseconds as on
/// the wire. The Multipoint bit is not a field: it must be zero (§6.8.6)
/// and is always sent as zero. The A bit is `authentication != nil`.
public struct BFDControlPacket: Hashable, Sendable {
    public static let version: UInt8 = 1
    /// The mandatory section's length.
    public static let minimumLength = 24

    public var diagnostic: BFDDiagnostic
    public var state: BFDState
    public var poll: Bool
    public var final: Bool
    /// C: the sender's BFD does not share fate with its control plane.
    public var controlPlaneIndependent: Bool
    public var demand: Bool
    public var detectMultiplier: UInt8
    public var myDiscriminator: UInt32
    public var yourDiscriminator: UInt32
    public var desiredMinTxInterval: UInt32
    public var requiredMinRxInterval: UInt32
    public var requiredMinEchoRxInterval: UInt32
    public var authentication: BFDAuthentication?

    public init(diagnostic: BFDDiagnostic = .none, state: BFDState, poll: Bool = false, final: Bool = false,
                controlPlaneIndependent: Bool = false, demand: Bool = false, detectMultiplier: UInt8,
                myDiscriminator: UInt32, yourDiscriminator: UInt32, desiredMinTxInterval: UInt32,
                requiredMinRxInterval: UInt32, requiredMinEchoRxInterval: UInt32 = 0, authentication: BFDAuthentication? = nil) {
        self.diagnostic = diagnostic
        self.state = state
        self.poll = poll
        self.final = final
        self.controlPlaneIndependent = controlPlaneIndependent
        self.demand = demand
        self.detectMultiplier = detectMultiplier
        self.myDiscriminator = myDiscriminator
        self.yourDiscriminator = yourDiscriminator
        self.desiredMinTxInterval = desiredMinTxInterval
        self.requiredMinRxInterval = requiredMinRxInterval
        self.requiredMinEchoRxInterval = requiredMinEchoRxInterval
        self.authentication = authentication
    }

    /// The Length field's value.
    public var length: Int { Self.minimumLength + (authentication.map { 2 + $0.data.count } ?? 0) }

    /// The wire form. Encodes what it is given, even values `decode`
    /// rejects (tests and fuzzers build bad packets with it); an
    /// authentication section longer than the 8-bit length allows is cut.
    public func encode() -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(length)
        out.append(Self.version << 5 | diagnostic.rawValue)
        var flags = state.rawValue << 6
        if poll { flags |= 0x20 }
        if final { flags |= 0x10 }
        if controlPlaneIndependent { flags |= 0x08 }
        if authentication != nil { flags |= 0x04 }
        if demand { flags |= 0x02 }
        out.append(flags)
        out.append(detectMultiplier)
        let auth = authentication.map { [$0.type, UInt8(min(255, 2 + $0.data.count))] + $0.data.prefix(253) } ?? []
        out.append(UInt8(Self.minimumLength + auth.count))
        for v in [myDiscriminator, yourDiscriminator, desiredMinTxInterval, requiredMinRxInterval, requiredMinEchoRxInterval] {
            out += [UInt8(v >> 24), UInt8(v >> 16 & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v & 0xFF)]
        }
        return out + auth
    }

    /// Decodes one datagram's payload with RFC 5880 §6.8.6's checks that
    /// need no session (the session checks the rest: discriminator lookup,
    /// authentication). Bytes past Length are ignored.
    public static func decode(_ bytes: some Collection<UInt8>) throws(BFDPacketError) -> BFDControlPacket {
        try decode(Array(bytes))
    }

    /// The same for an array (no copy, no generic dispatch: the adapter's
    /// path for every packet).
    public static func decode(_ b: [UInt8]) throws(BFDPacketError) -> BFDControlPacket {
        guard b.count >= minimumLength else { throw .truncated(datagram: b.count) }
        let version = b[0] >> 5
        guard version == Self.version else { throw .unsupportedVersion(version) }
        let flags = b[1]
        let authPresent = flags & 0x04 != 0
        let length = Int(b[3])
        guard length >= (authPresent ? minimumLength + 2 : minimumLength) else { throw .lengthTooShort(length, authenticationPresent: authPresent) }
        guard length <= b.count else { throw .lengthExceedsDatagram(length: length, datagram: b.count) }
        guard b[2] != 0 else { throw .zeroDetectMultiplier }
        guard flags & 0x01 == 0 else { throw .multipointSet }
        func word(_ at: Int) -> UInt32 {
            UInt32(b[at]) << 24 | UInt32(b[at + 1]) << 16 | UInt32(b[at + 2]) << 8 | UInt32(b[at + 3])
        }
        let my = word(4), your = word(8)
        guard my != 0 else { throw .zeroMyDiscriminator }
        let state = BFDState(rawValue: flags >> 6)!
        guard your != 0 || state == .down || state == .adminDown else { throw .zeroYourDiscriminator(state: state) }
        var authentication: BFDAuthentication?
        if authPresent {
            let authLength = Int(b[25])
            guard authLength >= 2, minimumLength + authLength == length else {
                throw .authenticationLength(declared: authLength, available: length - minimumLength)
            }
            authentication = BFDAuthentication(type: b[24], data: Array(b[26..<length]))
        }
        return BFDControlPacket(
            diagnostic: BFDDiagnostic(rawValue: b[0] & 0x1F)!, state: state, poll: flags & 0x20 != 0, final: flags & 0x10 != 0,
            controlPlaneIndependent: flags & 0x08 != 0, demand: flags & 0x02 != 0, detectMultiplier: b[2],
            myDiscriminator: my, yourDiscriminator: your, desiredMinTxInterval: word(12), requiredMinRxInterval: word(16),
            requiredMinEchoRxInterval: word(20), authentication: authentication)
    }
}

/// Why a datagram is not a BFD Control packet a session may look at
/// (RFC 5880 §6.8.6, in its order). Each one is dropped and counted.
public enum BFDPacketError: Error, Hashable, Sendable, CustomStringConvertible {
    /// Shorter than the 24-octet mandatory section.
    case truncated(datagram: Int)
    case unsupportedVersion(UInt8)
    /// Length below 24 (26 with the A bit).
    case lengthTooShort(Int, authenticationPresent: Bool)
    case lengthExceedsDatagram(length: Int, datagram: Int)
    case zeroDetectMultiplier
    case multipointSet
    case zeroMyDiscriminator
    /// Your Discriminator is zero while the state is Init or Up.
    case zeroYourDiscriminator(state: BFDState)
    /// Auth Len below 2, or not what Length leaves for it.
    case authenticationLength(declared: Int, available: Int)

    /// A short label for metrics (`caracal_bfd_dropped_total{reason}`).
    public var reason: String {
        switch self {
        case .truncated, .lengthTooShort, .lengthExceedsDatagram, .authenticationLength: "length"
        case .unsupportedVersion: "version"
        case .zeroDetectMultiplier: "detect_multiplier"
        case .multipointSet: "multipoint"
        case .zeroMyDiscriminator, .zeroYourDiscriminator: "discriminator"
        }
    }

    public var description: String {
        switch self {
        case .truncated(let n): "datagram of \(n) octets is shorter than 24"
        case .unsupportedVersion(let v): "version \(v), not 1"
        case .lengthTooShort(let l, let a): "Length \(l) is below \(a ? 26 : 24)\(a ? " with the A bit" : "")"
        case .lengthExceedsDatagram(let l, let d): "Length \(l) exceeds the datagram's \(d) octets"
        case .zeroDetectMultiplier: "Detect Mult is zero"
        case .multipointSet: "the Multipoint bit is set"
        case .zeroMyDiscriminator: "My Discriminator is zero"
        case .zeroYourDiscriminator(let s): "Your Discriminator is zero in state \(s)"
        case .authenticationLength(let d, let a): "Auth Len \(d) does not fit the \(a) octets after the mandatory section"
        }
    }
}
