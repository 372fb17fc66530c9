/// NOTIFICATION error codes (RFC 4271 §4.5 and updates: RFC 6608 FSM error,
/// RFC 7313 ROUTE-REFRESH error, RFC 9687 Send Hold Timer Expired).
public enum NotificationCode: UInt8, Sendable, CaseIterable, CustomStringConvertible {
    case messageHeaderError = 1
    case openMessageError = 2
    case updateMessageError = 3
    case holdTimerExpired = 4
    case finiteStateMachineError = 5
    case cease = 6
    case routeRefreshMessageError = 7
    case sendHoldTimerExpired = 8

    public var description: String {
        switch self {
        case .messageHeaderError: "Message Header Error"
        case .openMessageError: "OPEN Message Error"
        case .updateMessageError: "UPDATE Message Error"
        case .holdTimerExpired: "Hold Timer Expired"
        case .finiteStateMachineError: "Finite State Machine Error"
        case .cease: "Cease"
        case .routeRefreshMessageError: "ROUTE-REFRESH Message Error"
        case .sendHoldTimerExpired: "Send Hold Timer Expired"
        }
    }

    /// The registered subcode names for this code (IANA "BGP Error Subcodes").
    public func subcodeName(_ subcode: UInt8) -> String? {
        if subcode == 0 { return "Unspecific" }
        switch self {
        case .messageHeaderError: return MessageHeaderSubcode(rawValue: subcode)?.description
        case .openMessageError: return OpenSubcode(rawValue: subcode)?.description
        case .updateMessageError: return UpdateSubcode(rawValue: subcode)?.description
        case .finiteStateMachineError: return FSMSubcode(rawValue: subcode)?.description
        case .cease: return CeaseSubcode(rawValue: subcode)?.description
        case .routeRefreshMessageError: return subcode == 1 ? "Invalid Message Length" : nil
        case .holdTimerExpired, .sendHoldTimerExpired: return nil
        }
    }
}

public enum MessageHeaderSubcode: UInt8, Sendable, CaseIterable, CustomStringConvertible {
    case connectionNotSynchronized = 1
    case badMessageLength = 2
    case badMessageType = 3
    public var description: String {
        switch self {
        case .connectionNotSynchronized: "Connection Not Synchronized"
        case .badMessageLength: "Bad Message Length"
        case .badMessageType: "Bad Message Type"
        }
    }
}

public enum OpenSubcode: UInt8, Sendable, CaseIterable, CustomStringConvertible {
    case unsupportedVersionNumber = 1
    case badPeerAS = 2
    case badBGPIdentifier = 3
    case unsupportedOptionalParameter = 4
    /// 5 is deprecated (authentication failure).
    case unacceptableHoldTime = 6
    /// RFC 5492.
    case unsupportedCapability = 7
    /// RFC 9234.
    case roleMismatch = 11
    public var description: String {
        switch self {
        case .unsupportedVersionNumber: "Unsupported Version Number"
        case .badPeerAS: "Bad Peer AS"
        case .badBGPIdentifier: "Bad BGP Identifier"
        case .unsupportedOptionalParameter: "Unsupported Optional Parameter"
        case .unacceptableHoldTime: "Unacceptable Hold Time"
        case .unsupportedCapability: "Unsupported Capability"
        case .roleMismatch: "Role Mismatch"
        }
    }
}

public enum UpdateSubcode: UInt8, Sendable, CaseIterable, CustomStringConvertible {
    case malformedAttributeList = 1
    case unrecognizedWellKnownAttribute = 2
    case missingWellKnownAttribute = 3
    case attributeFlagsError = 4
    case attributeLengthError = 5
    case invalidOriginAttribute = 6
    /// 7 is deprecated (AS routing loop).
    case invalidNextHopAttribute = 8
    case optionalAttributeError = 9
    case invalidNetworkField = 10
    case malformedASPath = 11
    public var description: String {
        switch self {
        case .malformedAttributeList: "Malformed Attribute List"
        case .unrecognizedWellKnownAttribute: "Unrecognized Well-known Attribute"
        case .missingWellKnownAttribute: "Missing Well-known Attribute"
        case .attributeFlagsError: "Attribute Flags Error"
        case .attributeLengthError: "Attribute Length Error"
        case .invalidOriginAttribute: "Invalid ORIGIN Attribute"
        case .invalidNextHopAttribute: "Invalid NEXT_HOP Attribute"
        case .optionalAttributeError: "Optional Attribute Error"
        case .invalidNetworkField: "Invalid Network Field"
        case .malformedASPath: "Malformed AS_PATH"
        }
    }
}

/// RFC 6608.
public enum FSMSubcode: UInt8, Sendable, CaseIterable, CustomStringConvertible {
    case unexpectedMessageInOpenSent = 1
    case unexpectedMessageInOpenConfirm = 2
    case unexpectedMessageInEstablished = 3
    public var description: String {
        switch self {
        case .unexpectedMessageInOpenSent: "Receive Unexpected Message in OpenSent State"
        case .unexpectedMessageInOpenConfirm: "Receive Unexpected Message in OpenConfirm State"
        case .unexpectedMessageInEstablished: "Receive Unexpected Message in Established State"
        }
    }
}

/// RFC 4486, RFC 8538 (Hard Reset), RFC 9384 (BFD Down).
public enum CeaseSubcode: UInt8, Sendable, CaseIterable, CustomStringConvertible {
    case maximumPrefixesReached = 1
    case administrativeShutdown = 2
    case peerDeconfigured = 3
    case administrativeReset = 4
    case connectionRejected = 5
    case otherConfigurationChange = 6
    case connectionCollisionResolution = 7
    case outOfResources = 8
    case hardReset = 9
    case bfdDown = 10
    public var description: String {
        switch self {
        case .maximumPrefixesReached: "Maximum Number of Prefixes Reached"
        case .administrativeShutdown: "Administrative Shutdown"
        case .peerDeconfigured: "Peer De-configured"
        case .administrativeReset: "Administrative Reset"
        case .connectionRejected: "Connection Rejected"
        case .otherConfigurationChange: "Other Configuration Change"
        case .connectionCollisionResolution: "Connection Collision Resolution"
        case .outOfResources: "Out of Resources"
        case .hardReset: "Hard Reset"
        case .bfdDown: "BFD Down"
        }
    }
}

/// A NOTIFICATION message (RFC 4271 §4.5). Code and subcode stay raw so
/// that unknown values round-trip; `knownCode` and `subcodeName` name them.
public struct NotificationMessage: Hashable, Sendable, CustomStringConvertible {
    public var code: UInt8
    public var subcode: UInt8
    public var data: [UInt8]

    public init(code: UInt8, subcode: UInt8, data: [UInt8] = []) {
        self.code = code
        self.subcode = subcode
        self.data = data
    }

    public init(_ code: NotificationCode, subcode: UInt8 = 0, data: [UInt8] = []) {
        self.init(code: code.rawValue, subcode: subcode, data: data)
    }

    public init(header s: MessageHeaderSubcode, data: [UInt8] = []) { self.init(.messageHeaderError, subcode: s.rawValue, data: data) }
    public init(open s: OpenSubcode, data: [UInt8] = []) { self.init(.openMessageError, subcode: s.rawValue, data: data) }
    public init(update s: UpdateSubcode, data: [UInt8] = []) { self.init(.updateMessageError, subcode: s.rawValue, data: data) }
    public init(fsm s: FSMSubcode) { self.init(.finiteStateMachineError, subcode: s.rawValue) }
    public init(cease s: CeaseSubcode, data: [UInt8] = []) { self.init(.cease, subcode: s.rawValue, data: data) }

    /// RFC 9003: a Cease/Administrative Shutdown or Reset carrying a shutdown
    /// communication (length octet + UTF-8, at most 255 octets; longer text is
    /// cut on a character boundary).
    public static func cease(_ s: CeaseSubcode, communication: String) -> NotificationMessage {
        var utf8 = Array(communication.utf8)
        if utf8.count > 255 {
            var cut = 255
            while cut > 0, utf8[cut] & 0xC0 == 0x80 { cut -= 1 }
            utf8 = Array(utf8[..<cut])
        }
        return NotificationMessage(cease: s, data: [UInt8(utf8.count)] + utf8)
    }

    public var knownCode: NotificationCode? { NotificationCode(rawValue: code) }

    public var codeName: String { knownCode?.description ?? "Unknown code \(code)" }

    public var subcodeName: String {
        knownCode?.subcodeName(subcode) ?? "Unknown subcode \(subcode)"
    }

    /// RFC 9003 shutdown communication, when this is a Cease with subcode
    /// Administrative Shutdown or Reset whose data is a well-formed
    /// length-prefixed UTF-8 string (malformed ones are ignored, as §2 says).
    public var shutdownCommunication: String? {
        guard code == NotificationCode.cease.rawValue,
              subcode == CeaseSubcode.administrativeShutdown.rawValue
                || subcode == CeaseSubcode.administrativeReset.rawValue,
              let n = data.first, n > 0, data.count >= 1 + Int(n)
        else { return nil }
        return String(validating: data[1...Int(n)], as: UTF8.self)
    }

    /// "Cease (6) / Administrative Shutdown (2), data 0474657374".
    public var description: String {
        var s = "\(codeName) (\(code)) / \(subcodeName) (\(subcode))"
        if let text = shutdownCommunication { s += ", shutdown communication \"\(text)\"" }
        if !data.isEmpty { s += ", data \(data.hex)" }
        return s
    }
}
