import IPAddressing
import NIOCore

/// An OPEN message (RFC 4271 §4.2) with capabilities (RFC 5492) in one or
/// more Capabilities optional parameters, in the RFC 9072 extended format
/// when asked for or when they do not fit in 255 octets.
public struct OpenMessage: Hashable, Sendable {
    public var version: UInt8
    /// The 2-octet "My Autonomous System" field (AS_TRANS when the real AS
    /// needs 4 octets; RFC 6793 §4.1).
    public var myAS: UInt16
    public var holdTime: UInt16
    public var bgpIdentifier: IPv4Address
    /// Capabilities grouped as they were in optional parameters (peers
    /// differ: one parameter for all, or one per capability).
    public var capabilityParameters: [[Capability]]
    /// RFC 9072 extended optional parameters length format.
    public var extendedParameters: Bool

    public init(version: UInt8 = 4, myAS: UInt16, holdTime: UInt16, bgpIdentifier: IPv4Address,
                capabilityParameters: [[Capability]], extendedParameters: Bool = false) {
        self.version = version
        self.myAS = myAS
        self.holdTime = holdTime
        self.bgpIdentifier = bgpIdentifier
        self.capabilityParameters = capabilityParameters
        self.extendedParameters = extendedParameters
    }

    /// An OPEN for a speaker in `asNumber`: puts AS_TRANS in the 2-octet
    /// field when needed and advertises the 4-octet AS capability first.
    public init(asNumber: UInt32, holdTime: UInt16, bgpIdentifier: IPv4Address, capabilities: [Capability]) {
        let two = asNumber <= 0xFFFF ? UInt16(asNumber) : UInt16(BGPLimits.asTrans)
        var caps = capabilities.filter { if case .fourOctetAS = $0 { false } else { true } }
        caps.append(.fourOctetAS(asNumber))
        self.init(myAS: two, holdTime: holdTime, bgpIdentifier: bgpIdentifier, capabilityParameters: [caps])
    }

    public var capabilities: [Capability] { capabilityParameters.flatMap { $0 } }

    /// The speaker's AS: the 4-octet AS capability when present (RFC 6793),
    /// else the 2-octet field.
    public var asNumber: UInt32 {
        for c in capabilities { if case .fourOctetAS(let a) = c { return a } }
        return UInt32(myAS)
    }

    static func decode(_ r: inout WireReader) throws(BGPError) -> OpenMessage {
        // Length ≥ 29 was checked with the header, so the fixed part is there.
        let version = r.u8()!, myAS = r.u16()!, hold = r.u16()!, id = r.u32()!
        var optLen = Int(r.u8()!)
        guard version == 4 else {
            // Data: the largest version we support, 2 octets (§6.2).
            throw BGPError(.unsupportedVersion(version), NotificationMessage(open: .unsupportedVersionNumber, data: [0, 4]))
        }
        let malformed = BGPError(.malformedOptionalParameters, NotificationMessage(.openMessageError, subcode: 0))
        var extended = false
        var lengthOctets = 1
        // RFC 9072 §2: Non-Ext OP Len 255 and Non-Ext OP Type 255 introduce
        // the 2-octet Extended Opt. Parm. Length.
        if optLen == 255, r.remaining >= 1, r.base[r.position] == 255 {
            _ = r.u8()
            guard let l = r.u16() else { throw malformed }
            optLen = Int(l)
            extended = true
            lengthOctets = 2
        }
        guard optLen == r.remaining, var params = r.sub(optLen) else { throw malformed }
        var groups: [[Capability]] = []
        while !params.isAtEnd {
            guard let type = params.u8() else { throw malformed }
            let len: Int
            if lengthOctets == 2 {
                guard let l = params.u16() else { throw malformed }
                len = Int(l)
            } else {
                guard let l = params.u8() else { throw malformed }
                len = Int(l)
            }
            guard var value = params.sub(len) else { throw malformed }
            guard type == 2 else {
                throw BGPError(.unsupportedOptionalParameter(type), NotificationMessage(open: .unsupportedOptionalParameter))
            }
            var caps: [Capability] = []
            while !value.isAtEnd {
                guard let code = value.u8(), let clen = value.u8(), var cval = value.sub(Int(clen)) else {
                    throw malformed
                }
                caps.append(try Capability.decode(code: code, value: &cval))
            }
            groups.append(caps)
        }
        let open = OpenMessage(version: version, myAS: myAS, holdTime: hold, bgpIdentifier: IPv4Address(id),
                               capabilityParameters: groups, extendedParameters: extended)
        // Checks that hold whoever the peer is; peer-specific ones (expected
        // AS, identifier equal to ours) are in `OpenPolicy`.
        if hold == 1 || hold == 2 {
            throw BGPError(.unacceptableHoldTime(hold), NotificationMessage(open: .unacceptableHoldTime))
        }
        if id == 0 {
            throw BGPError(.badBGPIdentifier(id), NotificationMessage(open: .badBGPIdentifier))
        }
        // RFC 7607: AS 0 in either place is a Bad Peer AS.
        if myAS == 0 || open.asNumber == 0 {
            throw BGPError(.badPeerAS(0), NotificationMessage(open: .badPeerAS))
        }
        return open
    }

    func encodeBody(into b: inout ByteBuffer) {
        b.writeU8(version)
        b.writeU16(myAS)
        b.writeU16(holdTime)
        b.writeU32(bgpIdentifier.value)
        var params = ByteBuffer()
        var needsExtended = extendedParameters
        for group in capabilityParameters {
            var caps = ByteBuffer()
            for c in group {
                var v = ByteBuffer()
                c.encodeValue(into: &v)
                caps.writeU8(c.code)
                caps.writeU8(UInt8(truncatingIfNeeded: min(v.readableBytes, 255)))
                caps.writeBytes(v.readableBytesView.prefix(255))
            }
            if caps.readableBytes > 255 { needsExtended = true }
            params.writeU8(2)
            params.writeU16(UInt16(truncatingIfNeeded: caps.readableBytes))  // narrowed below if not extended
            params.writeBuffer(&caps)
        }
        // Each parameter's length shrinks to one octet in the classic format.
        if params.readableBytes - capabilityParameters.count > 255 { needsExtended = true }
        if needsExtended {
            b.writeU8(255)
            b.writeU8(255)
            b.writeU16(UInt16(truncatingIfNeeded: params.readableBytes))
            b.writeBuffer(&params)
        } else {
            // Rewrite with 1-octet parameter lengths.
            var short = ByteBuffer()
            while let type = params.readInteger(as: UInt8.self), let len = params.readInteger(as: UInt16.self),
                  let body = params.readSlice(length: Int(len)) {
                short.writeU8(type)
                short.writeU8(UInt8(len))
                short.writeImmutableBuffer(body)
            }
            b.writeU8(UInt8(short.readableBytes))
            b.writeBuffer(&short)
        }
    }
}

extension OpenMessage: CustomStringConvertible {
    public var description: String {
        "OPEN version \(version) AS \(asNumber) hold \(holdTime) id \(bgpIdentifier)"
            + (extendedParameters ? " (extended parameters)" : "")
            + capabilities.map { "\n  capability \($0)" }.joined()
    }
}
