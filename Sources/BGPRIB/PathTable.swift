import BGP
import IPAddressing

/// One path as the RIB stores it: 24 bytes. Its peer is an index into the
/// RIB's peer table and its attributes (next hop included) are interned,
/// so a path costs little more than its share of a hash table; a full
/// `Path` value is built only when someone asks (a decision, a change, a
/// status query).
struct StoredPath {
    /// As received: the Adj-RIB-In (before import policy).
    var received: InternedAttributes
    /// After import policy; nil when the policy rejected the path. The same
    /// object as `received` when the policy changed nothing (then it holds
    /// no count of its own in the attribute store).
    var accepted: InternedAttributes?
    /// Bits 0–23: the peer's index; bit 24: stale (RFC 4724 / RFC 7313);
    /// bits 25–31: the path's rank in the Loc-RIB's best set (1 = best,
    /// 0 = not in it).
    private var bits: UInt32
    var pathID: UInt32

    static let maxPeers = 1 << 24
    static let maxRank = 127

    init(peer: Int, pathID: UInt32, received: InternedAttributes, accepted: InternedAttributes?) {
        self.received = received
        self.accepted = accepted
        self.bits = UInt32(peer)
        self.pathID = pathID
    }

    var peer: Int { Int(bits & 0x00FF_FFFF) }
    var isStale: Bool {
        get { bits & 0x0100_0000 != 0 }
        set { bits = newValue ? bits | 0x0100_0000 : bits & ~0x0100_0000 }
    }
    var rank: Int {
        get { Int(bits >> 25) }
        set { bits = (bits & 0x01FF_FFFF) | UInt32(newValue) << 25 }
    }
    /// Accepted attributes that hold a store count of their own.
    var separatelyAccepted: InternedAttributes? { accepted.flatMap { $0 === received ? nil : $0 } }
}

/// The paths to one prefix. Most prefixes have one path, kept inline: no
/// array allocation (this is most of the memory saving over a dictionary
/// per prefix).
enum PathSlot {
    case one(StoredPath)
    case many(ContiguousArray<StoredPath>)
    /// Only while a `many` array is mutated in place (never stored).
    case moving

    var count: Int {
        switch self {
        case .one: 1
        case .many(let a): a.count
        case .moving: 0
        }
    }

    subscript(i: Int) -> StoredPath {
        switch self {
        case .one(let p): p
        case .many(let a): a[i]
        case .moving: preconditionFailure("PathSlot read while moving")
        }
    }

    func firstIndex(peer: Int, pathID: UInt32) -> Int? {
        switch self {
        case .one(let p): p.peer == peer && p.pathID == pathID ? 0 : nil
        case .many(let a): a.firstIndex { $0.peer == peer && $0.pathID == pathID }
        case .moving: nil
        }
    }

    /// Mutates path `i` in place (the array stays uniquely referenced).
    mutating func update<R>(_ i: Int, _ body: (inout StoredPath) -> R) -> R {
        switch self {
        case .one(var p):
            let r = body(&p)
            self = .one(p)
            return r
        case .many(var a):
            self = .moving
            let r = body(&a[i])
            self = .many(a)
            return r
        case .moving:
            preconditionFailure("PathSlot mutated while moving")
        }
    }

    mutating func updateAll(_ body: (inout StoredPath) -> Void) {
        for i in 0..<count { update(i, body) }
    }

    mutating func append(_ p: StoredPath) {
        switch self {
        case .one(let q): self = .many([q, p])
        case .many(var a):
            self = .moving
            a.append(p)
            self = .many(a)
        case .moving: self = .one(p)
        }
    }

    /// Removes path `i`; false when the slot is now empty.
    mutating func remove(at i: Int) -> Bool {
        switch self {
        case .one: return false
        case .many(var a):
            self = .moving
            a.remove(at: i)
            self = a.count == 1 ? .one(a[0]) : .many(a)
            return true
        case .moving: return false
        }
    }

    var paths: ContiguousArray<StoredPath> {
        switch self {
        case .one(let p): [p]
        case .many(let a): a
        case .moving: []
        }
    }
}
