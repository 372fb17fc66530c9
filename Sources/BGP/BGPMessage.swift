import NIOCore

/// ROUTE-REFRESH (RFC 2918), with the RFC 7313 message subtypes.
public struct RouteRefreshMessage: Hashable, Sendable, CustomStringConvertible {
    public enum Subtype: UInt8, Sendable {
        case normal = 0
        /// Beginning of Route Refresh (RFC 7313).
        case beginning = 1
        /// End of Route Refresh (RFC 7313).
        case end = 2
    }
    public var family: AddressFamily
    /// Raw, so that reserved values (which RFC 7313 §5 says to ignore)
    /// survive decoding.
    public var subtype: UInt8

    public init(family: AddressFamily, subtype: Subtype = .normal) {
        self.family = family
        self.subtype = subtype.rawValue
    }
    public init(family: AddressFamily, rawSubtype: UInt8) {
        self.family = family
        subtype = rawSubtype
    }
    public var knownSubtype: Subtype? { Subtype(rawValue: subtype) }

    public var description: String {
        let s = switch knownSubtype {
        case .normal?: "refresh"
        case .beginning?: "BoRR"
        case .end?: "EoRR"
        case nil: "subtype \(subtype)"
        }
        return "ROUTE-REFRESH \(family) \(s)"
    }
}

public enum BGPMessage: Hashable, Sendable {
    case open(OpenMessage)
    case update(UpdateMessage)
    case notification(NotificationMessage)
    case keepalive
    case routeRefresh(RouteRefreshMessage)

    public var type: MessageType {
        switch self {
        case .open: .open
        case .update: .update
        case .notification: .notification
        case .keepalive: .keepalive
        case .routeRefresh: .routeRefresh
        }
    }
}

/// A decoded message plus the errors RFC 7606 lets the session survive.
public struct DecodedMessage: Hashable, Sendable {
    public var message: BGPMessage
    /// Attribute-discard and treat-as-withdraw errors found in an UPDATE.
    public var errors: [BGPError]
    /// Octets the message took on the wire.
    public var length: Int

    /// The strongest action among `errors`, nil for a clean message.
    public var action: ErrorAction? { errors.max { $0.action.severity < $1.action.severity }?.action }

    /// RFC 7606: every prefix the UPDATE carried must be withdrawn.
    public var isTreatAsWithdraw: Bool { errors.contains { $0.action == .treatAsWithdraw } }

    /// The End-of-RIB family, only for a clean UPDATE (a malformed one whose
    /// bad attributes were dropped can look empty but is not a marker).
    public var endOfRIB: AddressFamily? {
        guard errors.isEmpty, case .update(let u) = message else { return nil }
        return u.endOfRIB
    }
}

extension BGPMessage {
    // MARK: Framing (RFC 4271 §4.1, §6.1)

    /// Decodes one message from the front of `buffer`, consuming it. Returns
    /// nil (consuming nothing) when the buffer does not yet hold a whole
    /// message. Throws the §6 / RFC 7606 error for a malformed one; after a
    /// header error the stream cannot be resynchronised.
    public static func decode(from buffer: inout ByteBuffer, context: CodecContext) throws(BGPError) -> DecodedMessage? {
        let available = buffer.readableBytes
        guard available >= BGPLimits.headerSize else { return nil }
        let result: Result<DecodedMessage?, BGPError> = buffer.withUnsafeReadableBytes { raw in
            Result { () throws(BGPError) -> DecodedMessage? in
                var r = WireReader(raw)
                return try decode(&r, context: context, partialOK: true)
            }
        }
        let decoded = try result.get()
        if let d = decoded { buffer.moveReaderIndex(forwardBy: d.length) }
        return decoded
    }

    /// Decodes exactly one message that fills `bytes`; a short buffer or
    /// trailing bytes are errors.
    public static func decode(_ bytes: [UInt8], context: CodecContext) throws(BGPError) -> DecodedMessage {
        let result: Result<DecodedMessage?, BGPError> = bytes.withUnsafeBytes { raw in
            Result { () throws(BGPError) -> DecodedMessage? in
                var r = WireReader(raw)
                return try decode(&r, context: context, partialOK: false)
            }
        }
        let d = try result.get()!
        if d.length != bytes.count {
            throw BGPError(.truncated(needed: d.length, available: bytes.count), NotificationMessage(header: .badMessageLength, data: u16(d.length)))
        }
        return d
    }

    /// Decodes every message in `bytes` in order; throws on the first bad one
    /// (its position is in `decodedPrefix` of the result being empty).
    public static func decodeAll(_ bytes: [UInt8], context: CodecContext) -> (messages: [DecodedMessage], error: BGPError?) {
        var out: [DecodedMessage] = []
        var buf = ByteBuffer(bytes: bytes)
        while buf.readableBytes > 0 {
            do throws(BGPError) {
                guard let d = try decode(from: &buf, context: context) else {
                    let need = buf.readableBytes >= BGPLimits.headerSize ? headerLength(buf) : BGPLimits.headerSize
                    return (out, BGPError(.truncated(needed: need, available: buf.readableBytes), NotificationMessage(header: .badMessageLength, data: u16(need))))
                }
                out.append(d)
            } catch {
                return (out, error)
            }
        }
        return (out, nil)
    }

    private static func headerLength(_ b: ByteBuffer) -> Int {
        Int(b.getInteger(at: b.readerIndex + 16, as: UInt16.self) ?? 0)
    }

    static func u16(_ v: Int) -> [UInt8] { [UInt8(truncatingIfNeeded: v >> 8), UInt8(truncatingIfNeeded: v)] }

    static func decode(_ r: inout WireReader, context: CodecContext, partialOK: Bool) throws(BGPError) -> DecodedMessage? {
        let total = r.remaining
        guard total >= BGPLimits.headerSize else {
            if partialOK { return nil }
            throw BGPError(.truncated(needed: BGPLimits.headerSize, available: total), NotificationMessage(header: .badMessageLength, data: u16(total)))
        }
        let start = r.position
        for i in 0..<16 where r.base[start + i] != 0xFF {
            throw BGPError(.markerNotAllOnes, NotificationMessage(header: .connectionNotSynchronized))
        }
        _ = r.sub(16)
        let length = Int(r.u16()!)
        let typeByte = r.u8()!
        let lengthError = BGPError(.badMessageLength(UInt16(length)), NotificationMessage(header: .badMessageLength, data: u16(length)))
        guard length >= BGPLimits.headerSize, length <= context.maxMessageSize else { throw lengthError }
        guard let type = MessageType(rawValue: typeByte) else {
            throw BGPError(.badMessageType(typeByte), NotificationMessage(header: .badMessageType, data: [typeByte]))
        }
        // Per-type lengths (§6.1); OPEN and KEEPALIVE never exceed 4096
        // (RFC 8654 §3). ROUTE-REFRESH length has its own error (RFC 7313 §5).
        switch type {
        case .open: guard length >= BGPLimits.minOpenSize, length <= BGPLimits.maxMessageSize else { throw lengthError }
        case .update: guard length >= BGPLimits.minUpdateSize else { throw lengthError }
        case .notification: guard length >= BGPLimits.minNotificationSize else { throw lengthError }
        case .keepalive: guard length == BGPLimits.headerSize else { throw lengthError }
        case .routeRefresh: break
        }
        guard total >= length else {
            if partialOK { return nil }
            throw BGPError(.truncated(needed: length, available: total), NotificationMessage(header: .badMessageLength, data: u16(length)))
        }
        var body = r.sub(length - BGPLimits.headerSize)!
        var errors: [BGPError] = []
        let message: BGPMessage
        switch type {
        case .open:
            message = .open(try OpenMessage.decode(&body))
        case .update:
            let (u, e) = try UpdateMessage.decode(&body, context: context)
            message = .update(u)
            errors = e
        case .notification:
            message = .notification(NotificationMessage(code: body.u8()!, subcode: body.u8()!, data: body.rest()))
        case .keepalive:
            message = .keepalive
        case .routeRefresh:
            guard length == BGPLimits.routeRefreshSize else {
                // RFC 7313 §5: the data is the whole message.
                throw BGPError(.routeRefreshLength(length), NotificationMessage(.routeRefreshMessageError, subcode: 1, data: r.slice(start, start + length)))
            }
            let afi = body.u16()!, subtype = body.u8()!, safi = body.u8()!
            message = .routeRefresh(RouteRefreshMessage(family: AddressFamily(afi: AFI(rawValue: afi), safi: SAFI(rawValue: safi)), rawSubtype: subtype))
        }
        return DecodedMessage(message: message, errors: errors, length: length)
    }

    // MARK: Encoding

    /// Appends the message to `buffer`. The caller keeps messages within the
    /// session's size limit (the packers do this for UPDATEs).
    public func encode(into buffer: inout ByteBuffer, context: CodecContext) {
        let start = buffer.writerIndex
        buffer.writeRepeatingByte(0xFF, count: 16)
        buffer.writeU16(0)
        buffer.writeU8(type.rawValue)
        switch self {
        case .open(let o): o.encodeBody(into: &buffer)
        case .update(let u): u.encodeBody(into: &buffer, context: context)
        case .notification(let n):
            buffer.writeU8(n.code)
            buffer.writeU8(n.subcode)
            buffer.writeBytes(n.data)
        case .keepalive: break
        case .routeRefresh(let rr):
            buffer.writeU16(rr.family.afi.rawValue)
            buffer.writeU8(rr.subtype)
            buffer.writeU8(rr.family.safi.rawValue)
        }
        buffer.setInteger(UInt16(truncatingIfNeeded: buffer.writerIndex - start), at: start + 16)
    }

    public func encoded(context: CodecContext) -> [UInt8] {
        var b = ByteBuffer()
        encode(into: &b, context: context)
        return Array(b.readableBytesView)
    }
}
