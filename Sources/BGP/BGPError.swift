import IPAddressing

/// How a receiver handles a malformed message (RFC 7606 §2).
public enum ErrorAction: Hashable, Sendable, CustomStringConvertible {
    /// Send the NOTIFICATION and close the session (RFC 4271 §6).
    case sessionReset
    /// Keep the session; withdraw every prefix the UPDATE carried (RFC 7606 §2).
    case treatAsWithdraw
    /// Keep the session and the routes; drop the malformed attribute.
    case attributeDiscard
    /// Keep the session; stop using this address family on it (RFC 4760 §7).
    case afiSafiDisable(AddressFamily)

    public var description: String {
        switch self {
        case .sessionReset: "session reset"
        case .treatAsWithdraw: "treat-as-withdraw"
        case .attributeDiscard: "attribute discard"
        case .afiSafiDisable(let f): "AFI/SAFI disable (\(f))"
        }
    }

    /// Stronger actions win when one UPDATE has several errors (RFC 7606 §3).
    var severity: Int {
        switch self {
        case .attributeDiscard: 0
        case .treatAsWithdraw: 1
        case .afiSafiDisable: 2
        case .sessionReset: 3
        }
    }
}

/// What exactly was wrong. Typed, so tests and callers match on cases rather
/// than on text.
public enum BGPErrorReason: Hashable, Sendable, CustomStringConvertible {
    // Header (RFC 4271 §6.1)
    case markerNotAllOnes
    case badMessageLength(UInt16)
    case badMessageType(UInt8)
    case truncated(needed: Int, available: Int)
    // OPEN (§6.2)
    case unsupportedVersion(UInt8)
    case badPeerAS(UInt32)
    case badBGPIdentifier(UInt32)
    case unsupportedOptionalParameter(UInt8)
    case unacceptableHoldTime(UInt16)
    case malformedOptionalParameters
    case malformedCapability(code: UInt8)
    case unsupportedCapability(code: UInt8)
    // UPDATE (§6.3, RFC 7606)
    case inconsistentLengths
    case attributeListOverrun
    case unrecognizedWellKnownAttribute(UInt8)
    case missingWellKnownAttribute(UInt8)
    case attributeFlags(type: UInt8, flags: UInt8)
    case attributeLength(type: UInt8, length: Int)
    case invalidOrigin(UInt8)
    case invalidNextHop
    case malformedASPath
    case malformedAS4Path
    case invalidNetworkField(AddressFamily)
    case malformedMPReach(AddressFamily?)
    case malformedMPUnreach(AddressFamily?)
    case duplicateMPAttribute(UInt8)
    case duplicateAttribute(UInt8)
    case unexpectedAS4Attribute(UInt8)
    // ROUTE-REFRESH (RFC 7313 §5)
    case routeRefreshLength(Int)
    // NOTIFICATION
    case notificationTooShort
    // Session (FSM)
    case unexpectedMessage(MessageType)

    public var description: String {
        switch self {
        case .markerNotAllOnes: "marker is not all ones"
        case .badMessageLength(let l): "bad message length \(l)"
        case .badMessageType(let t): "unknown message type \(t)"
        case .truncated(let n, let a): "truncated: needs \(n) bytes, has \(a)"
        case .unsupportedVersion(let v): "unsupported BGP version \(v)"
        case .badPeerAS(let a): "bad peer AS \(a)"
        case .badBGPIdentifier(let i): "bad BGP identifier \(IPv4Address(i))"
        case .unsupportedOptionalParameter(let t): "unsupported optional parameter type \(t)"
        case .unacceptableHoldTime(let h): "unacceptable hold time \(h)"
        case .malformedOptionalParameters: "optional parameters do not add up to their length"
        case .malformedCapability(let c): "capability \(c) has a malformed value"
        case .unsupportedCapability(let c): "required capability \(c) not supported"
        case .inconsistentLengths: "withdrawn routes and path attribute lengths exceed the message"
        case .attributeListOverrun: "a path attribute runs past the attribute list"
        case .unrecognizedWellKnownAttribute(let t): "unrecognized well-known attribute \(t)"
        case .missingWellKnownAttribute(let t): "missing well-known attribute \(PathAttributeType.name(t))"
        case .attributeFlags(let t, let f): "attribute \(PathAttributeType.name(t)) has wrong flags 0x\([f].hex)"
        case .attributeLength(let t, let l): "attribute \(PathAttributeType.name(t)) has wrong length \(l)"
        case .invalidOrigin(let o): "invalid ORIGIN \(o)"
        case .invalidNextHop: "invalid NEXT_HOP"
        case .malformedASPath: "malformed AS_PATH"
        case .malformedAS4Path: "malformed AS4_PATH"
        case .invalidNetworkField(let f): "invalid \(f) NLRI"
        case .malformedMPReach(let f): "malformed MP_REACH_NLRI" + (f.map { " (\($0))" } ?? "")
        case .malformedMPUnreach(let f): "malformed MP_UNREACH_NLRI" + (f.map { " (\($0))" } ?? "")
        case .duplicateMPAttribute(let t): "\(PathAttributeType.name(t)) appears more than once"
        case .duplicateAttribute(let t): "\(PathAttributeType.name(t)) appears more than once; later copies discarded"
        case .unexpectedAS4Attribute(let t): "\(PathAttributeType.name(t)) received on a 4-octet AS session"
        case .routeRefreshLength(let l): "ROUTE-REFRESH with length \(l)"
        case .notificationTooShort: "NOTIFICATION shorter than 21 octets"
        case .unexpectedMessage(let t): "unexpected \(t)"
        }
    }
}

/// A decode (or session) error: what was wrong, the NOTIFICATION that RFC
/// 4271 §6 prescribes for it, and the RFC 7606 action.
public struct BGPError: Error, Hashable, Sendable, CustomStringConvertible {
    public var reason: BGPErrorReason
    public var notification: NotificationMessage
    public var action: ErrorAction

    public init(_ reason: BGPErrorReason, _ notification: NotificationMessage, _ action: ErrorAction = .sessionReset) {
        self.reason = reason
        self.notification = notification
        self.action = action
    }

    public var description: String {
        "\(reason): \(action); NOTIFICATION \(notification)"
    }
}
