import ClusterModel
import Foundation
import IPAddressing
import KeyValueStore
import JSON
import Testing
@testable import IPAM

final class TestClock: @unchecked Sendable {
    private let lock = NSLock()
    private var t = Date(timeIntervalSince1970: 1_800_000_000)
    var now: Date { lock.lock(); defer { lock.unlock() }; return t }
    func advance(_ s: Double) { lock.lock(); t = t.addingTimeInterval(s); lock.unlock() }
}

private func ip(_ s: String) -> IPAddress { IPAddress(s)! }
private func prefix(_ s: String) -> IPPrefix { IPPrefix(s)! }

struct Fixture {
    let store = InMemoryKVStore()
    let clock = TestClock()
    var ipam: IPAM { let c = clock; return IPAM(clock: { c.now }) }

    /// - Parameter networkAddresses: most tests count addresses from the
    ///   pool's first (they predate the rule that skips the network and
    ///   broadcast addresses), so their pools hand those out.
    init(_ pools: [Pool] = [Pool(name: "default", cidr: IPPrefix("10.244.0.0/24")!)], networkAddresses: Bool = true) throws {
        for var p in pools {
            if networkAddresses { p.useNetworkAddresses = true }
            try store.transaction { try ipam.createPool(p, $0) }
        }
    }

    func add(_ id: String, node: String = "n1", ns: String = "default", pod: String? = nil, claim: String? = nil,
             requested: [String] = [], v4: Bool = true, v6: Bool = false, pools: [String] = []) throws -> [Allocation] {
        try store.transaction {
            try ipam.allocate(AllocationRequest(
                containerID: id, ifName: "eth0", namespace: ns, pod: pod ?? "pod-\(id)", node: node, claim: claim,
                requested: requested.map { ip($0) }, ipv4: v4, ipv6: v6, pools: pools), $0)
        }
    }

    func del(_ id: String, reason: String = "DEL") throws -> HandleRecord? {
        try store.transaction { try ipam.release(containerID: id, ifName: "eth0", reason: reason, $0) }
    }

    func error(_ body: () throws -> Any) -> IPAMError? {
        do { _ = try body() } catch let e as IPAMError { return e } catch { Issue.record("\(error)") }
        return nil
    }
}

@Suite("IPAM pools")
struct PoolTests {
    @Test func defaultsAndValidation() throws {
        let p4 = Pool(name: "a", cidr: prefix("10.0.0.0/16"))
        #expect(p4.blockSize == 26 && p4.cooldownSeconds > 0)
        #expect(Pool(name: "b", cidr: prefix("fd00::/64")).blockSize == 122)
        #expect(Pool(name: "c", cidr: prefix("10.0.0.0/28")).blockSize == 28)
        func field(_ p: Pool) -> String? {
            do { try p.validate() } catch { if case .invalidPool(let f, _) = error { return f } }
            return nil
        }
        #expect(field(Pool(name: "Bad/Name", cidr: prefix("10.0.0.0/16"))) == "name")
        #expect(field(Pool(name: "a", cidr: prefix("10.0.0.0/16"), blockSize: 8)) == "blockSize")
        #expect(field(Pool(name: "a", cidr: prefix("10.0.0.0/26"), blockSize: 24)) == "blockSize")
        #expect(field(Pool(name: "a", cidr: prefix("10.0.0.0/16"), excluded: [IPRange("10.1.0.1")!])) == "excluded[0]")
        #expect(field(Pool(name: "a", cidr: prefix("10.0.0.0/16"), namespaceQuotas: ["x": -1])) == "namespaceQuotas.x")
        #expect(field(Pool(name: "a", cidr: prefix("10.0.0.0/16"), cooldownSeconds: -1)) == "cooldownSeconds")
        #expect(field(p4) == nil)
    }

    @Test func overlapAndDuplicateAreRefusedAndDeleteNeedsEmptyPool() throws {
        let f = try Fixture()
        #expect(f.error { try f.store.transaction { try f.ipam.createPool(Pool(name: "x", cidr: prefix("10.244.0.128/25")), $0) } }
            == .poolOverlaps("x", existing: "default"))
        #expect(f.error { try f.store.transaction { try f.ipam.createPool(Pool(name: "default", cidr: prefix("10.9.0.0/24")), $0) } } != nil)
        // ifAbsent keeps the existing definition.
        let kept = try f.store.transaction { try f.ipam.createPool(Pool(name: "default", cidr: prefix("10.9.0.0/24")), ifAbsent: true, $0) }
        #expect(kept.cidr == prefix("10.244.0.0/24"))
        _ = try f.add("c1")
        #expect(f.error { try f.store.transaction { try f.ipam.deletePool(named: "default", $0) } } == .poolInUse("default", allocations: 1))
        _ = try f.del("c1")
        try f.store.transaction { try f.ipam.deletePool(named: "default", $0) }
        #expect(try f.store.read { try f.ipam.pools($0) }.isEmpty)
        #expect(!f.store.keys.contains { $0.hasPrefix("ipam/blocks/") || $0.hasPrefix("ipam/affinity/") })
    }

    @Test func ranges() {
        #expect(IPRange("10.0.0.1-10.0.0.9")!.contains(ip("10.0.0.5")))
        #expect(!IPRange("10.0.0.1-10.0.0.9")!.contains(ip("10.0.0.10")))
        #expect(IPRange("10.0.0.0/30")!.last == ip("10.0.0.3"))
        #expect(IPRange("10.0.0.9-10.0.0.1") == nil && IPRange("10.0.0.1-fd00::1") == nil && IPRange("x") == nil)
        #expect(IPRange("fd00::1")!.contains(ip("fd00::1")))
    }
}

@Suite("IPAM allocation")
struct AllocationTests {
    @Test func allocatesFromOwnBlockFirstThenClaimsNextBlock() throws {
        let f = try Fixture([Pool(name: "p", cidr: prefix("10.0.0.0/24"), blockSize: 30)])
        var ips: [String] = []
        for i in 0..<5 { ips += try f.add("c\(i)").map { $0.ip.description } }
        #expect(ips == ["10.0.0.0", "10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4"])
        let other = try f.add("o1", node: "n2")
        #expect(other[0].block == prefix("10.0.0.8/30"), "n2 claims its own block")
        #expect(other[0].borrowed == false)
        let blocks = try f.store.read { try f.ipam.blocks(pool: "p", $0) }
        #expect(blocks.map(\.node) == ["n1", "n1", "n2"])
    }

    @Test func borrowsWhenNoBlockLeftUnlessStrict() throws {
        for strict in [false, true] {
            let f = try Fixture([Pool(name: "p", cidr: prefix("10.0.0.0/29"), blockSize: 30, strict: strict)])
            _ = try f.add("a1", node: "n1")
            _ = try f.add("b1", node: "n2")
            for i in 2...4 { _ = try f.add("a\(i)", node: "n1") }
            // n1's block is full, n2 holds the other one.
            if strict {
                #expect(f.error { try f.add("a5", node: "n1") } == .exhausted(family: "IPv4", pools: ["p"]))
            } else {
                let a = try f.add("a5", node: "n1")
                #expect(a[0].borrowed && a[0].block == prefix("10.0.0.4/30") && a[0].ip == ip("10.0.0.5"))
            }
        }
    }

    @Test func networkAndBroadcastAddressesAreSkippedByDefault() throws {
        let f = try Fixture(
            [Pool(name: "p", cidr: prefix("10.0.0.0/29"), blockSize: 30), Pool(name: "v6", cidr: prefix("fd00:7::/126"), blockSize: 126)],
            networkAddresses: false)
        let ips = try (0..<6).map { try f.add("c\($0)", pools: ["p"])[0].ip }
        #expect(ips == (1...6).map { ip("10.0.0.\($0)") }, "blocks .0/30 and .4/30: the pool's .0 and .7 are skipped, the blocks' edges are not")
        #expect(f.error { try f.add("c6", pools: ["p"]) } == .exhausted(family: "IPv4", pools: ["p"]))
        #expect(f.error { try f.add("r", requested: ["10.0.0.0"]) } == .requestedIPReserved(ip("10.0.0.0"), pool: "p"))
        // IPv6: the subnet-router anycast address (RFC 4291 §2.6.1) is skipped; there is no broadcast.
        let v6 = try (0..<3).map { try f.add("s\($0)", v4: false, v6: true, pools: ["v6"])[0].ip }
        #expect(v6 == [ip("fd00:7::1"), ip("fd00:7::2"), ip("fd00:7::3")])
        // /31 and /32 pools have no network address to skip (RFC 3021).
        #expect(Pool(name: "p31", cidr: prefix("10.9.0.0/31")).isExcluded(ip("10.9.0.0")) == false)
        #expect(Pool(name: "on", cidr: prefix("10.9.0.0/24"), useNetworkAddresses: true).isExcluded(ip("10.9.0.0")) == false)
    }

    @Test func exhaustedPool() throws {
        let f = try Fixture([Pool(name: "p", cidr: prefix("10.0.0.0/30"), blockSize: 30)])
        for i in 0..<4 { _ = try f.add("c\(i)") }
        #expect(f.error { try f.add("c9") } == .exhausted(family: "IPv4", pools: ["p"]))
        #expect(try f.store.read { try f.ipam.canServe(node: "n1", ipv4: true, ipv6: false, $0) } != nil)
        #expect(try f.store.read { try f.ipam.canServe(node: "n1", ipv4: false, ipv6: true, $0) } != nil)
    }

    @Test func dualStackAndPoolPreference() throws {
        let f = try Fixture([
            Pool(name: "a", cidr: prefix("10.1.0.0/24")), Pool(name: "b", cidr: prefix("10.2.0.0/24")),
            Pool(name: "v6", cidr: prefix("fd00:1::/64")),
        ])
        let r = try f.add("c1", v6: true, pools: ["b", "v6"])
        #expect(r.map(\.ip) == [ip("10.2.0.0"), ip("fd00:1::")])
        #expect(r[1].block == prefix("fd00:1::/122"))
        #expect(f.error { try f.add("c2", v4: false, v6: true, pools: ["a"]) } != nil)
    }

    @Test func excludedRangesAreSkippedAndRefused() throws {
        let f = try Fixture([Pool(name: "p", cidr: prefix("10.0.0.0/28"), blockSize: 30, excluded: [IPRange("10.0.0.0-10.0.0.5")!])])
        #expect(try f.add("c1")[0].ip == ip("10.0.0.6"))
        #expect(f.error { try f.add("c2", requested: ["10.0.0.3"]) } == .requestedIPReserved(ip("10.0.0.3"), pool: "p"))
    }

    @Test func namespaceRulesAndQuotas() throws {
        let f = try Fixture([Pool(name: "p", cidr: prefix("10.0.0.0/24"), allowedNamespaces: ["web", "db"], namespaceQuotas: ["web": 2, "*": 1])])
        #expect(f.error { try f.add("x", ns: "other") } == .namespaceNotAllowed(namespace: "other", pools: ["p"]))
        _ = try f.add("w1", ns: "web")
        _ = try f.add("w2", ns: "web")
        #expect(f.error { try f.add("w3", ns: "web") } == .quotaExceeded(namespace: "web", pool: "p", limit: 2))
        _ = try f.add("d1", ns: "db")
        #expect(f.error { try f.add("d2", ns: "db") } == .quotaExceeded(namespace: "db", pool: "p", limit: 1))
        // Explicit requests count against the quota too.
        #expect(f.error { try f.add("d3", ns: "db", requested: ["10.0.0.99"]) } == .quotaExceeded(namespace: "db", pool: "p", limit: 1))
        _ = try f.del("w1")
        _ = try f.add("w3", ns: "web")
    }

    /// Each node counts its own allocations (no common key to conflict on
    /// between nodes); a quota sums every node's counter, and a pool-wide
    /// counter of earlier records still counts and is decremented.
    @Test func usageIsCountedPerNodeAndQuotasSumTheNodes() throws {
        let f = try Fixture([Pool(name: "p", cidr: prefix("10.0.0.0/24"), blockSize: 28, namespaceQuotas: ["web": 3], cooldownSeconds: 0)])
        _ = try f.add("a", node: "n1", ns: "web")
        _ = try f.add("b", node: "n2", ns: "web")
        #expect(f.store.keys.filter { $0.hasPrefix("ipam/usage/") }.sorted() == ["ipam/usage/p/web/n1", "ipam/usage/p/web/n2"])
        // An earlier record: counted pool-wide, its slot without `countedBy`.
        try f.store.transaction { tx in
            try tx.put(Keys.usage(pool: "p", namespace: "web"), Data("1".utf8))
        }
        #expect(f.error { try f.add("c", node: "n3", ns: "web") } == .quotaExceeded(namespace: "web", pool: "p", limit: 3))
        #expect(try f.store.read { try f.ipam.usage($0) }.map { $0.count } == [3])
        _ = try f.del("b")
        #expect(!f.store.keys.contains("ipam/usage/p/web/n2"), "n2's counter went with its only slot")
        _ = try f.add("c", node: "n3", ns: "web")
        try f.store.transaction { tx in
            // The legacy slot goes: the pool-wide counter is decremented.
            let key = Keys.block(pool: "p", cidr: prefix("10.0.0.0/28"))
            var block = try JSONValueDecoder().decode(Block.self, from: try tx.get(key)!)
            block.slots.append(Slot(ordinal: 9, handle: nil, claim: "old", namespace: "web"))
            try tx.put(key, Data(try JSONValueEncoder().encodedBytes(block)))
            try tx.put(Keys.claim("old"), Data(try JSONValueEncoder().encodedBytes(
                ClaimRecord(name: "old", namespace: "web", ips: [ip("10.0.0.9")], createdAt: Date(), holder: nil))))
        }
        _ = try f.store.transaction { try f.ipam.releaseClaim("old", $0) }
        #expect(!f.store.keys.contains(Keys.usage(pool: "p", namespace: "web")))
        #expect(try f.store.read { try f.ipam.usage($0) }.map { $0.count } == [2])
    }

    @Test func nodeSelectorAndDisabledPools() throws {
        let f = try Fixture([
            Pool(name: "zone-a", cidr: prefix("10.1.0.0/24"), nodeSelector: ["zone": "a"]),
            Pool(name: "off", cidr: prefix("10.2.0.0/24"), disabled: true),
        ])
        try f.store.transaction { try f.ipam.setNode(NodeRecord(name: "n1", labels: ["zone": "a"]), $0) }
        #expect(try f.add("c1", node: "n1")[0].ip == ip("10.1.0.0"))
        #expect(f.error { try f.add("c2", node: "n2") } == .noEligiblePool(family: "IPv4", reason: "no IPv4 pool selects node n2"))
        #expect(f.error { try f.add("c3", node: "n1", pools: ["off"]) } == .noEligiblePool(family: "IPv4", reason: "every IPv4 pool is disabled"))
        #expect(f.error { try f.add("c4", requested: ["10.2.0.7"]) } != nil)
        #expect(try f.store.read { try f.ipam.canServe(node: "n1", ipv4: true, ipv6: false, $0) } == nil)
        #expect(try f.store.read { try f.ipam.canServe(node: "n2", ipv4: true, ipv6: false, $0) } != nil)
    }

    @Test func secondAddForSameHandleIsRefused() throws {
        let f = try Fixture()
        _ = try f.add("c1")
        #expect(f.error { try f.add("c1") } == .alreadyAllocated(handle: "c1/eth0"))
    }

    @Test func failedTransactionLeavesNothing() throws {
        let f = try Fixture()
        let before = f.store.keys
        struct Boom: Error {}
        #expect(throws: Boom.self) {
            try f.store.transaction { tx in
                _ = try f.ipam.allocate(AllocationRequest(containerID: "c1", ifName: "eth0", node: "n1"), tx)
                throw Boom()
            }
        }
        #expect(f.store.keys == before)
    }
}

@Suite("IPAM fixed addresses, claims, cooldown, history")
struct FixedAddressTests {
    @Test func requestedAddressIsCheckedAgainstPoolsAndHolders() throws {
        let f = try Fixture()
        #expect(try f.add("c1", requested: ["10.244.0.77"])[0].ip == ip("10.244.0.77"))
        #expect(f.error { try f.add("c2", requested: ["10.9.9.9"]) } == .requestedIPNotInPool(ip("10.9.9.9")))
        guard case .ipHeld(let held, let by)? = f.error({ try f.add("c3", ns: "other", requested: ["10.244.0.77"]) }) else {
            Issue.record("expected ipHeld"); return
        }
        #expect(held == ip("10.244.0.77") && by.contains("default/pod-c1") && by.contains("c1"))
        // Another node may request an address from a block it does not own.
        let a = try f.add("c4", node: "n2", requested: ["10.244.0.78"])
        #expect(a[0].borrowed)
        // Automatic allocation skips taken addresses.
        let auto = try f.add("c5", node: "n1")
        #expect(auto[0].block == prefix("10.244.0.64/26") && auto[0].ip == ip("10.244.0.64"))
        #expect(try f.add("c6", node: "n1")[0].ip == ip("10.244.0.65"))
    }

    @Test func stickyClaimKeepsItsAddressAcrossDeletesAndNodes() throws {
        let f = try Fixture()
        _ = try f.add("filler")
        let first = try f.add("db0-a", node: "n1", ns: "data", claim: "data/db/0")
        _ = try f.del("db0-a")
        // Nobody else gets it meanwhile, even after the cooldown.
        f.clock.advance(3600)
        for i in 0..<5 { #expect(try f.add("x\(i)", ns: "data")[0].ip != first[0].ip) }
        // The pod comes back on another node: same address.
        let again = try f.add("db0-b", node: "n2", ns: "data", claim: "data/db/0")
        #expect(again[0].ip == first[0].ip && again[0].borrowed)
        // While a pod holds the claim, a second pod cannot take it.
        #expect(f.error { try f.add("db0-c", node: "n3", ns: "data", claim: "data/db/0") } == .claimInUse("data/db/0", by: "db0-b/eth0"))
        #expect(f.error { try f.add("evil", ns: "other", claim: "data/db/0") } == .claimInUse("data/db/0", by: "namespace data"))
        // An explicit release frees it (after the cooldown).
        _ = try f.del("db0-b")
        let claim = try f.store.transaction { try f.ipam.releaseClaim("data/db/0", $0) }
        #expect(claim.ips == [first[0].ip])
        let info = try f.store.read { try f.ipam.lookup(first[0].ip, $0) }
        #expect(info.state == "cooling")
        #expect(f.error { try f.store.transaction { try f.ipam.releaseClaim("data/db/0", $0) } } == .unknownClaim("data/db/0"))
    }

    @Test func claimWithRequestedAddress() throws {
        let f = try Fixture()
        let a = try f.add("p1", claim: "fixed-web", requested: ["10.244.0.200"])
        #expect(a[0].ip == ip("10.244.0.200"))
        _ = try f.del("p1")
        #expect(try f.store.read { try f.ipam.lookup(ip("10.244.0.200"), $0) }.state == "claimed")
        #expect(try f.add("p2", claim: "fixed-web")[0].ip == ip("10.244.0.200"))
        #expect(f.error { try f.add("p3", requested: ["10.244.0.200"]) } != nil)
    }

    @Test func cooldownDelaysReuse() throws {
        let f = try Fixture([Pool(name: "p", cidr: prefix("10.0.0.0/30"), blockSize: 30, cooldownSeconds: 60)])
        #expect(try f.add("c1")[0].ip == ip("10.0.0.0"))
        _ = try f.del("c1")
        #expect(try f.add("c2")[0].ip == ip("10.0.0.1"), "the released address cools down")
        #expect(try f.store.read { try f.ipam.lookup(ip("10.0.0.0"), $0) }.state == "cooling")
        f.clock.advance(61)
        #expect(try f.add("c3")[0].ip == ip("10.0.0.0"))
        // An explicit request may take a cooling address.
        _ = try f.del("c3")
        #expect(try f.add("c4", requested: ["10.0.0.0"])[0].ip == ip("10.0.0.0"))
    }

    @Test func aFullBlockIsUsedAgainWhenItsCooldownEnds() throws {
        let f = try Fixture([Pool(name: "p", cidr: prefix("10.0.0.0/30"), blockSize: 30, strict: true, cooldownSeconds: 60)])
        for i in 0..<4 { _ = try f.add("c\(i)") }
        _ = try f.del("c2")
        #expect(f.error { try f.add("x1") } == .exhausted(family: "IPv4", pools: ["p"]))
        #expect(f.error { try f.add("x2") } == .exhausted(family: "IPv4", pools: ["p"]), "still cooling")
        f.clock.advance(61)
        #expect(try f.add("x3")[0].ip == ip("10.0.0.2"))
        _ = try f.del("c0")
        f.clock.advance(61)
        #expect(try f.add("x4")[0].ip == ip("10.0.0.0"), "a release makes the block usable again")
    }

    @Test func releaseIsIdempotent() throws {
        let f = try Fixture()
        _ = try f.add("c1")
        #expect(try f.del("c1") != nil)
        #expect(try f.del("c1") == nil)
        #expect(try f.del("never") == nil)
        #expect(try f.store.read { try f.ipam.usage($0) }.isEmpty)
    }

    @Test func historyAnswersWhoHeldAnAddressWhen() throws {
        let f = try Fixture([Pool(name: "p", cidr: prefix("10.0.0.0/30"), blockSize: 30, cooldownSeconds: 0)])
        let t0 = f.clock.now
        _ = try f.add("c1", ns: "shop", pod: "cart-1")
        f.clock.advance(100)
        _ = try f.del("c1", reason: "DEL")
        f.clock.advance(10)
        _ = try f.add("c2", node: "n1", ns: "shop", pod: "cart-2", requested: ["10.0.0.0"])
        let h = try f.store.read { try f.ipam.history(ip("10.0.0.0"), $0) }
        #expect(h.count == 2)
        #expect(h[0].pod == "cart-1" && h[0].end == t0.addingTimeInterval(100) && h[0].reason == "DEL")
        #expect(h[1].pod == "cart-2" && h[1].end == nil && h[1].node == "n1" && h[1].containerID == "c2")
        #expect(try f.store.read { try f.ipam.holder(of: ip("10.0.0.0"), at: t0.addingTimeInterval(50), $0) }?.pod == "cart-1")
        #expect(try f.store.read { try f.ipam.holder(of: ip("10.0.0.0"), at: t0.addingTimeInterval(105), $0) } == nil)
        #expect(try f.store.read { try f.ipam.holder(of: ip("10.0.0.0"), at: t0.addingTimeInterval(500), $0) }?.pod == "cart-2")
        #expect(try f.store.read { try f.ipam.holder(of: ip("10.0.0.0"), at: t0.addingTimeInterval(-1), $0) } == nil)
    }

    @Test func emptyBlocksAreReleasedAfterGrace() throws {
        let f = try Fixture([Pool(name: "p", cidr: prefix("10.0.0.0/24"), blockSize: 30, cooldownSeconds: 10, blockGraceSeconds: 100)])
        _ = try f.add("c1")
        _ = try f.del("c1")
        #expect(try f.store.transaction { try f.ipam.releaseEmptyBlocks(node: "n1", $0) }.isEmpty)
        f.clock.advance(50)
        #expect(try f.store.transaction { try f.ipam.releaseEmptyBlocks(node: "n1", $0) }.isEmpty)
        f.clock.advance(51)
        #expect(try f.store.transaction { try f.ipam.releaseEmptyBlocks(node: "n1", $0) } == [prefix("10.0.0.0/30")])
        #expect(try f.store.read { try f.ipam.blocks(pool: "p", $0) }.isEmpty)
        #expect(!f.store.keys.contains { $0.hasPrefix("ipam/affinity/") })
        // Blocks in use are kept.
        _ = try f.add("c2")
        f.clock.advance(1000)
        #expect(try f.store.transaction { try f.ipam.releaseEmptyBlocks(node: "n1", $0) }.isEmpty)
    }

    @Test func concurrentAllocationsNeverShareAnAddress() async throws {
        let f = try Fixture([Pool(name: "p", cidr: prefix("10.0.0.0/24"), blockSize: 28)])
        let results = try await withThrowingTaskGroup(of: [IPAddress].self) { group in
            for i in 0..<100 {
                group.addTask { try f.add("c\(i)", node: "n\(i % 3)").map(\.ip) }
            }
            var all: [IPAddress] = []
            for try await r in group { all += r }
            return all
        }
        #expect(results.count == 100 && Set(results).count == 100)
    }
}

@Suite("IPAM address arithmetic")
struct ArithmeticTests {
    @Test func ordinalsAndSubnets() {
        let b4 = prefix("10.1.2.64/26")
        #expect(b4.address(at: 0) == ip("10.1.2.64") && b4.address(at: 63) == ip("10.1.2.127") && b4.address(at: 64) == nil)
        #expect(b4.ordinal(of: ip("10.1.2.100")) == 36 && b4.ordinal(of: ip("10.1.2.128")) == nil)
        let pool6 = prefix("fd00:1:2:3::/64")
        #expect(pool6.subnet(length: 122, index: 0) == prefix("fd00:1:2:3::/122"))
        #expect(pool6.subnet(length: 122, index: 1) == prefix("fd00:1:2:3::40/122"))
        #expect(pool6.subnet(length: 122, index: 1025) == prefix("fd00:1:2:3::1:40/122"))
        #expect(pool6.subnetCount(length: 122) == UInt64(1) << 58)
        let b6 = prefix("fd00:1:2:3::40/122")
        #expect(b6.ordinal(of: ip("fd00:1:2:3::7f")) == 63 && b6.address(at: 63) == ip("fd00:1:2:3::7f"))
        // Carry across the 64-bit halves.
        #expect(IPAddress("fd00::ffff:ffff:ffff:ffff")!.adding(1) == ip("fd00:0:0:1::"))
        #expect(IPAddress("255.255.255.255")!.adding(1) == nil)
        #expect(ip("fd00:0:0:1::").offset(from: ip("fd00::ffff:ffff:ffff:ffff")) == 1)
        #expect(ip("10.0.0.1").offset(from: ip("fd00::")) == nil)
        // A large IPv6 pool: the first block is found without enumerating.
        #expect(prefix("fd00::/48").subnet(length: 122, index: 3) == prefix("fd00::c0/122"))
    }

    @Test func ipv6PoolAllocatesBlockByBlock() throws {
        let f = try Fixture([Pool(name: "v6", cidr: prefix("fd00:9::/120"), blockSize: 124)])
        var ips: [IPAddress] = []
        for i in 0..<17 { ips += try f.add("c\(i)", v4: false, v6: true).map(\.ip) }
        #expect(ips.first == ip("fd00:9::") && ips[15] == ip("fd00:9::f") && ips[16] == ip("fd00:9::10"))
        #expect(Set(ips).count == 17)
        #expect(try f.store.read { try f.ipam.blocks(pool: "v6", $0) }.map(\.cidr) == [prefix("fd00:9::/124"), prefix("fd00:9::10/124")])
    }
}

/// Records go through JSONValueEncoder/JSONValueDecoder; they must read what
/// Foundation's JSONEncoder wrote before (same layout) and round-trip.
@Suite("IPAM record coding")
struct RecordCodingTests {
    let block = Block(
        cidr: IPPrefix("10.244.1.0/26")!, pool: "p", node: "n1", claimedAt: Date(timeIntervalSince1970: 1_800_000_000.25),
        slots: [Slot(ordinal: 3, handle: "c1/eth0", claim: "data/db/0", namespace: "data"), Slot(ordinal: 9, handle: nil, claim: "x", namespace: "d")],
        cooling: [Cooling(ordinal: 4, until: Date(timeIntervalSince1970: 1_800_000_030))], emptySince: nil)
    let pool = Pool(
        name: "web", cidr: IPPrefix("fd00::/64")!, blockSize: 122, strict: true, nodeSelector: ["zone": "a"], allowedNamespaces: ["shop"],
        namespaceQuotas: ["shop": 5, "*": 1], excluded: [], cooldownSeconds: 1.5)

    @Test func roundTripsAndReadsFoundationsOutput() throws {
        let foundation = JSONEncoder()
        foundation.dateEncodingStrategy = .secondsSince1970
        foundation.outputFormatting = .sortedKeys
        for bytes in [try JSONValueEncoder().encodedBytes(block), Array(try foundation.encode(block))] {
            #expect(try JSONValueDecoder().decode(Block.self, from: bytes) == block)
        }
        for bytes in [try JSONValueEncoder().encodedBytes(pool), Array(try foundation.encode(pool))] {
            #expect(try JSONValueDecoder().decode(Pool.self, from: bytes) == pool)
        }
        // Same document as Foundation's, but for the unescaped "/".
        let ours = String(decoding: try JSONValueEncoder().encodedBytes(block), as: UTF8.self)
        let theirs = String(decoding: try foundation.encode(block), as: UTF8.self).replacingOccurrences(of: "\\/", with: "/")
        #expect(try JSONValue.parse(ours).numbersAsDoubles == JSONValue.parse(theirs).numbersAsDoubles, "\(ours)\n\(theirs)")
        #expect(!ours.contains("emptySince"), "nil optionals are left out")
        #expect(try JSONValueDecoder().decode(Int.self, from: JSONValueEncoder().encodedBytes(7)) == 7)
    }

    @Test func errorsCarryTheCodingPath() {
        do {
            _ = try JSONValueDecoder().decode(Block.self, from: Array(#"{"cidr":"10.0.0.0/26","pool":"p","claimedAt":1,"slots":[{"ordinal":"x","namespace":"n"}],"cooling":[]}"#.utf8))
            Issue.record("decoded a string ordinal")
        } catch DecodingError.typeMismatch(_, let ctx) {
            #expect(ctx.codingPath.map(\.stringValue) == ["slots", "0", "ordinal"])
        } catch { Issue.record("\(error)") }
        do {
            _ = try JSONValueDecoder().decode(Block.self, from: Array(#"{"cidr":"10.0.0.0/26","claimedAt":1,"slots":[],"cooling":[]}"#.utf8))
            Issue.record("decoded without pool")
        } catch DecodingError.keyNotFound(let key, _) {
            #expect(key.stringValue == "pool")
        } catch { Issue.record("\(error)") }
        #expect(throws: DecodingError.self) { try JSONValueDecoder().decode(Int8.self, from: Array("300".utf8)) }
        #expect(throws: DecodingError.self) { try JSONValueDecoder().decode(Int.self, from: Array("2.5".utf8)) }
        #expect(throws: DecodingError.self) { try JSONValueDecoder().decode(Int.self, from: Array("{".utf8)) }
        #expect(throws: EncodingError.self) { try JSONValueEncoder().encode(Double.nan) }
    }
}

private extension JSONValue {
    static func parse(_ s: String) throws -> JSONValue { try JSONValue(parsing: Array(s.utf8)) }
    /// 1800000030 and 1800000030.0 are one number.
    var numbersAsDoubles: JSONValue {
        switch self {
        case .int(let i): .double(Double(i))
        case .array(let a): .array(a.map(\.numbersAsDoubles))
        case .object(let o): .object(o.mapValues(\.numbersAsDoubles))
        default: self
        }
    }
}
