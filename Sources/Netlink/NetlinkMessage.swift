import CMnl

// Wire layout helpers for netlink (RFC 3549 §2.3.2): every message starts
// with a 16-byte `nlmsghdr`, then a family header, then TLV attributes, each
// padded to 4 bytes. These are plain Swift on raw bytes; no libmnl call sits
// on the hot path, so building 100k routes costs a few memcpys each.

@inline(__always) func netlinkAlign(_ n: Int) -> Int { (n + 3) & ~3 }

let netlinkHeaderSize = 16
let attributeHeaderSize = 4

/// A buffer of netlink request messages laid out back to back, ready to go
/// to the kernel in as few `sendmsg` calls as the socket allows. Sequence
/// numbers and the `NLM_F_ACK` flag are stamped by the socket when it sends.
///
/// Not thread-safe: build a batch on one thread, then hand it to a socket.
public final class NetlinkBatch {
    private(set) var storage: UnsafeMutableRawPointer
    private(set) var capacity: Int
    /// Bytes used so far.
    public internal(set) var byteCount: Int = 0
    /// Offset of each message, in order.
    private(set) var offsets: [Int] = []

    /// Creates an empty batch with room for `capacity` bytes before it grows.
    public init(capacity: Int = 16 * 1024) {
        self.capacity = max(capacity, 64)
        storage = .allocate(byteCount: self.capacity, alignment: 8)
    }

    deinit { storage.deallocate() }

    /// The number of messages.
    public var count: Int { offsets.count }
    public var isEmpty: Bool { offsets.isEmpty }

    /// Drops all messages, keeping the allocation.
    public func removeAll() {
        byteCount = 0
        offsets.removeAll(keepingCapacity: true)
    }

    /// Appends one request message. `NLM_F_REQUEST` is always set; `body`
    /// writes the family header and attributes.
    public func append(
        type: UInt16, flags: UInt16 = 0,
        _ body: (NetlinkMessageWriter) throws -> Void = { _ in }
    ) rethrows {
        let start = byteCount
        reserve(netlinkHeaderSize)
        let header = storage + start
        header.storeBytes(of: UInt32(0), toByteOffset: 0, as: UInt32.self)
        header.storeBytes(of: type, toByteOffset: 4, as: UInt16.self)
        header.storeBytes(of: flags | UInt16(NLM_F_REQUEST), toByteOffset: 6, as: UInt16.self)
        header.storeBytes(of: UInt64(0), toByteOffset: 8, as: UInt64.self)  // seq + pid
        byteCount += netlinkHeaderSize
        do {
            try body(NetlinkMessageWriter(batch: self))
        } catch {
            byteCount = start
            throw error
        }
        (storage + start).storeBytes(of: UInt32(byteCount - start), as: UInt32.self)
        offsets.append(start)
    }

    /// Appends a complete message (header included) copied from `bytes`.
    public func appendMessage(_ bytes: UnsafeRawBufferPointer) {
        let start = byteCount
        appendPadded(bytes.baseAddress, count: bytes.count)
        offsets.append(start)
    }

    /// Appends messages `range` of `other`, in order, with one copy.
    public func appendMessages(of other: NetlinkBatch, _ range: Range<Int>) {
        guard !range.isEmpty else { return }
        let bytes = NetlinkBatchSlice(other, range).bytes
        let shift = byteCount - other.offsets[range.lowerBound]
        reserve(bytes.count)
        (storage + byteCount).copyMemory(from: bytes.baseAddress!, byteCount: bytes.count)
        byteCount += bytes.count
        offsets.reserveCapacity(offsets.count + range.count)
        for i in range { offsets.append(other.offsets[i] + shift) }
    }

    /// The message type of message `index`.
    public func messageType(at index: Int) -> UInt16 {
        storage.load(fromByteOffset: offsets[index] + 4, as: UInt16.self)
    }

    /// The raw bytes of message `index` (header included).
    public func messageBytes(at index: Int) -> UnsafeRawBufferPointer {
        let start = offsets[index]
        let end = index + 1 < offsets.count ? offsets[index + 1] : byteCount
        return UnsafeRawBufferPointer(start: storage + start, count: end - start)
    }

    @inline(__always)
    func reserve(_ extra: Int) {
        if byteCount + extra <= capacity { return }
        var newCapacity = capacity * 2
        while newCapacity < byteCount + extra { newCapacity *= 2 }
        let fresh = UnsafeMutableRawPointer.allocate(byteCount: newCapacity, alignment: 8)
        fresh.copyMemory(from: storage, byteCount: byteCount)
        storage.deallocate()
        storage = fresh
        capacity = newCapacity
    }

    /// Appends `count` bytes copied from `source`, zero-padded to 4 bytes.
    @inline(__always)
    func appendPadded(_ source: UnsafeRawPointer?, count: Int) {
        let padded = netlinkAlign(count)
        reserve(padded)
        let dest = storage + byteCount
        if let source, count > 0 { dest.copyMemory(from: source, byteCount: count) }
        if padded > count { (dest + count).initializeMemory(as: UInt8.self, repeating: 0, count: padded - count) }
        byteCount += padded
    }

    @inline(__always)
    func stamp(index: Int, sequence: UInt32, acknowledge: Bool) {
        let header = storage + offsets[index]
        header.storeBytes(of: sequence, toByteOffset: 8, as: UInt32.self)
        var flags = header.load(fromByteOffset: 6, as: UInt16.self)
        if acknowledge { flags |= UInt16(NLM_F_ACK) } else { flags &= ~UInt16(NLM_F_ACK) }
        header.storeBytes(of: flags, toByteOffset: 6, as: UInt16.self)
    }
}

/// Consecutive messages of one batch (all of them by default): parts of
/// a transaction sent without copying them together.
public struct NetlinkBatchSlice {
    public let batch: NetlinkBatch
    public let messages: Range<Int>

    public init(_ batch: NetlinkBatch, _ messages: Range<Int>? = nil) {
        self.batch = batch
        self.messages = messages ?? 0..<batch.count
    }

    /// The messages' bytes, contiguous in the batch.
    var bytes: UnsafeRawBufferPointer {
        guard !messages.isEmpty else { return UnsafeRawBufferPointer(start: nil, count: 0) }
        let from = batch.offsets[messages.lowerBound]
        let to = messages.upperBound < batch.count ? batch.offsets[messages.upperBound] : batch.byteCount
        return UnsafeRawBufferPointer(start: batch.storage + from, count: to - from)
    }
}

/// Writes the body of one message inside `NetlinkBatch.append`.
public struct NetlinkMessageWriter {
    let batch: NetlinkBatch

    /// Appends a fixed family header (`rtmsg`, `ifinfomsg`, `nfgenmsg`, ...).
    @inline(__always)
    public func put<Header>(header value: Header) {
        withUnsafeBytes(of: value) { batch.appendPadded($0.baseAddress, count: $0.count) }
    }

    /// Appends raw bytes with no attribute header (rarely needed).
    public func put(raw bytes: UnsafeRawBufferPointer) {
        batch.appendPadded(bytes.baseAddress, count: bytes.count)
    }

    /// Appends an attribute whose value is `bytes`.
    @inline(__always)
    public func put(_ type: UInt16, bytes: UnsafeRawBufferPointer) {
        putAttributeHeader(type, valueLength: bytes.count)
        batch.appendPadded(bytes.baseAddress, count: bytes.count)
    }

    /// Appends an attribute whose value is the in-memory bytes of `value`
    /// (host byte order, as rtnetlink expects for integers).
    @inline(__always)
    public func put<T: FixedWidthInteger>(_ type: UInt16, _ value: T) {
        let size = MemoryLayout<T>.size
        let total = attributeHeaderSize + size
        batch.reserve(netlinkAlign(total))
        let dest = batch.storage + batch.byteCount
        dest.storeBytes(of: UInt16(total), as: UInt16.self)
        dest.storeBytes(of: type, toByteOffset: 2, as: UInt16.self)
        dest.storeBytes(of: value, toByteOffset: 4, as: T.self)
        let padded = netlinkAlign(total)
        if padded > total { (dest + total).initializeMemory(as: UInt8.self, repeating: 0, count: padded - total) }
        batch.byteCount += padded
    }

    /// Appends a NUL-terminated string attribute.
    public func put(_ type: UInt16, string: String) {
        var copy = string
        copy.withUTF8 { utf8 in
            putAttributeHeader(type, valueLength: utf8.count + 1)
            let padded = netlinkAlign(utf8.count + 1)
            batch.reserve(padded)
            let dest = batch.storage + batch.byteCount
            if let base = utf8.baseAddress { dest.copyMemory(from: base, byteCount: utf8.count) }
            (dest + utf8.count).initializeMemory(as: UInt8.self, repeating: 0, count: padded - utf8.count)
            batch.byteCount += padded
        }
    }

    /// Appends a flag attribute (no value).
    public func putFlag(_ type: UInt16) { putAttributeHeader(type, valueLength: 0) }

    /// Opens a nested attribute; the nest's length is fixed up when `body` returns.
    public func nested(_ type: UInt16, _ body: () throws -> Void) rethrows {
        let start = batch.byteCount
        putAttributeHeader(type | UInt16(NLA_F_NESTED), valueLength: 0)
        try body()
        (batch.storage + start).storeBytes(of: UInt16(batch.byteCount - start), as: UInt16.self)
    }

    /// Like `nested` but without `NLA_F_NESTED`: `RTA_MULTIPATH` and a few
    /// legacy containers are parsed by the kernel without the flag.
    public func container(_ type: UInt16, _ body: () throws -> Void) rethrows {
        let start = batch.byteCount
        putAttributeHeader(type, valueLength: 0)
        try body()
        (batch.storage + start).storeBytes(of: UInt16(batch.byteCount - start), as: UInt16.self)
    }

    /// Reserves a fixed-size header (e.g. `rtnexthop`) whose length field must
    /// cover what `body` appends, then lets `fill` finish it.
    public func sized<Header>(
        header: Header, lengthOffset: Int, _ body: () throws -> Void
    ) rethrows {
        let start = batch.byteCount
        put(header: header)
        try body()
        (batch.storage + start).storeBytes(of: UInt16(batch.byteCount - start), toByteOffset: lengthOffset, as: UInt16.self)
    }

    @inline(__always)
    private func putAttributeHeader(_ type: UInt16, valueLength: Int) {
        batch.reserve(attributeHeaderSize)
        let dest = batch.storage + batch.byteCount
        dest.storeBytes(of: UInt16(attributeHeaderSize + valueLength), as: UInt16.self)
        dest.storeBytes(of: type, toByteOffset: 2, as: UInt16.self)
        batch.byteCount += attributeHeaderSize
    }
}

// MARK: - Parsing

/// One received netlink message; `payload` is valid only inside the
/// callback that received it.
public struct NetlinkMessage {
    public var type: UInt16
    public var flags: UInt16
    public var sequence: UInt32
    public var portID: UInt32
    /// The bytes after the 16-byte header.
    public var payload: UnsafeRawBufferPointer

    /// Splits a received datagram into messages. Throws on a truncated or
    /// inconsistent header; never reads outside `buffer`.
    public static func forEach(
        in buffer: UnsafeRawBufferPointer, _ body: (NetlinkMessage) throws -> Void
    ) throws {
        var offset = 0
        while buffer.count - offset >= netlinkHeaderSize {
            let length = Int(buffer.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
            guard length >= netlinkHeaderSize, length <= buffer.count - offset else {
                throw NetlinkError.malformed("netlink message length \(length) at offset \(offset) of \(buffer.count)")
            }
            let message = NetlinkMessage(
                type: buffer.loadUnaligned(fromByteOffset: offset + 4, as: UInt16.self),
                flags: buffer.loadUnaligned(fromByteOffset: offset + 6, as: UInt16.self),
                sequence: buffer.loadUnaligned(fromByteOffset: offset + 8, as: UInt32.self),
                portID: buffer.loadUnaligned(fromByteOffset: offset + 12, as: UInt32.self),
                payload: UnsafeRawBufferPointer(rebasing: buffer[(offset + netlinkHeaderSize)..<(offset + length)]))
            try body(message)
            offset += netlinkAlign(length)
        }
        if offset < buffer.count {
            throw NetlinkError.malformed("\(buffer.count - offset) trailing bytes after the last message")
        }
    }

    /// The attributes following a family header of `headerSize` bytes.
    public func attributes(after headerSize: Int) throws -> NetlinkAttributes {
        let skip = netlinkAlign(headerSize)
        guard payload.count >= headerSize else {
            throw NetlinkError.malformed("message type \(type) payload \(payload.count) < header \(headerSize)")
        }
        return NetlinkAttributes(UnsafeRawBufferPointer(rebasing: payload[min(skip, payload.count)...]))
    }

    /// Loads the family header (`rtmsg`, ...) if the payload holds one.
    public func header<Header>(as: Header.Type) throws -> Header {
        guard payload.count >= MemoryLayout<Header>.size else {
            throw NetlinkError.malformed("message type \(type) payload \(payload.count) < \(MemoryLayout<Header>.size)")
        }
        return payload.loadUnaligned(as: Header.self)
    }
}

/// One attribute: its type (with the nested/byte-order flags removed) and value.
public struct NetlinkAttribute {
    public var type: UInt16
    public var isNested: Bool
    public var value: UnsafeRawBufferPointer

    @inline(__always) public var u8: UInt8? { value.count >= 1 ? value.load(as: UInt8.self) : nil }
    @inline(__always) public var u16: UInt16? { value.count >= 2 ? value.loadUnaligned(as: UInt16.self) : nil }
    @inline(__always) public var u32: UInt32? { value.count >= 4 ? value.loadUnaligned(as: UInt32.self) : nil }
    @inline(__always) public var u64: UInt64? { value.count >= 8 ? value.loadUnaligned(as: UInt64.self) : nil }
    @inline(__always) public var i32: Int32? { value.count >= 4 ? value.loadUnaligned(as: Int32.self) : nil }
    /// A NUL-terminated (or unterminated) string value.
    public var string: String {
        let end = value.firstIndex(of: 0) ?? value.count
        return String(decoding: UnsafeRawBufferPointer(rebasing: value[..<end]), as: UTF8.self)
    }
    /// The value parsed as attributes (for nests).
    public var nested: NetlinkAttributes { NetlinkAttributes(value) }
    public var bytes: [UInt8] { Array(value) }
}

/// A run of attributes. `forEach` throws on the first malformed length and
/// never reads outside the buffer.
public struct NetlinkAttributes {
    public var buffer: UnsafeRawBufferPointer
    public init(_ buffer: UnsafeRawBufferPointer) { self.buffer = buffer }

    /// Calls `body` for each attribute; throws on a bad length.
    @inline(__always)
    public func forEach(_ body: (NetlinkAttribute) throws -> Void) throws {
        var offset = 0
        let count = buffer.count
        while count - offset >= attributeHeaderSize {
            let length = Int(buffer.loadUnaligned(fromByteOffset: offset, as: UInt16.self))
            let rawType = buffer.loadUnaligned(fromByteOffset: offset + 2, as: UInt16.self)
            guard length >= attributeHeaderSize, length <= count - offset else {
                throw NetlinkError.malformed("attribute type \(rawType & 0x3fff) length \(length) at offset \(offset) of \(count)")
            }
            try body(NetlinkAttribute(
                type: rawType & 0x3fff,
                isNested: rawType & UInt16(NLA_F_NESTED) != 0,
                value: UnsafeRawBufferPointer(rebasing: buffer[(offset + attributeHeaderSize)..<(offset + length)])))
            offset += netlinkAlign(length)
        }
    }
}
