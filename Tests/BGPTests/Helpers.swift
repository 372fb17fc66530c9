@testable import BGP
import IPAddressing
import NIOCore
import Testing

func v4(_ s: String, pathID: UInt32? = nil) -> IPv4NLRI { IPv4NLRI(IPv4Prefix(s)!, pathID: pathID) }
func v6(_ s: String, pathID: UInt32? = nil) -> IPv6NLRI { IPv6NLRI(IPv6Prefix(s)!, pathID: pathID) }
func ip4(_ s: String) -> IPv4Address { IPv4Address(s)! }
func ip6(_ s: String) -> IPv6Address { IPv6Address(s)! }

/// A full message: marker, length, type, body.
func frame(_ type: UInt8, _ body: [UInt8]) -> [UInt8] {
    let len = 19 + body.count
    return [UInt8](repeating: 0xFF, count: 16) + [UInt8(len >> 8), UInt8(len & 0xFF), type] + body
}

/// An UPDATE body from its parts.
func updateBody(withdrawn: [UInt8] = [], attributes: [UInt8] = [], nlri: [UInt8] = []) -> [UInt8] {
    [UInt8(withdrawn.count >> 8), UInt8(withdrawn.count & 0xFF)] + withdrawn
        + [UInt8(attributes.count >> 8), UInt8(attributes.count & 0xFF)] + attributes + nlri
}

/// One path attribute (classic 1-octet length).
func attr(_ flags: UInt8, _ type: UInt8, _ value: [UInt8]) -> [UInt8] {
    [flags, type, UInt8(value.count)] + value
}

/// ORIGIN IGP, AS_PATH [65001] (4-octet), NEXT_HOP 10.0.0.1.
let basicAttributes: [UInt8] =
    attr(0x40, 1, [0]) + attr(0x40, 2, [2, 1, 0, 0, 0xFD, 0xE9]) + attr(0x40, 3, [10, 0, 0, 1])

let ctx4 = CodecContext(fourOctetAS: true)

/// Decodes, re-encodes, and checks both the bytes and the value survive.
@discardableResult
func roundTrip(_ m: BGPMessage, context: CodecContext = ctx4, sourceLocation: SourceLocation = #_sourceLocation) throws -> [UInt8] {
    let bytes = m.encoded(context: context)
    let d = try BGPMessage.decode(bytes, context: context)
    #expect(d.message == m, sourceLocation: sourceLocation)
    #expect(d.errors.isEmpty, "\(d.errors)", sourceLocation: sourceLocation)
    #expect(d.message.encoded(context: context) == bytes, sourceLocation: sourceLocation)
    return bytes
}

/// Decodes bytes expecting an error; returns it.
func decodeError(_ bytes: [UInt8], context: CodecContext = ctx4, sourceLocation: SourceLocation = #_sourceLocation) -> BGPError? {
    do {
        let d = try BGPMessage.decode(bytes, context: context)
        Issue.record("expected an error, decoded \(d.message)", sourceLocation: sourceLocation)
        return nil
    } catch {
        return error
    }
}

/// Decodes an UPDATE expecting success with RFC 7606 errors; returns them.
func decodeSoft(_ bytes: [UInt8], context: CodecContext = ctx4, sourceLocation: SourceLocation = #_sourceLocation) -> DecodedMessage? {
    do {
        return try BGPMessage.decode(bytes, context: context)
    } catch {
        Issue.record("unexpected session error \(error)", sourceLocation: sourceLocation)
        return nil
    }
}
