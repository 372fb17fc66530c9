// libFuzzer target for the cluster's resources and records (see Fuzz/README.md).
import Cluster
import Foundation
import FuzzSupport
import IPAddressing
import KeyValueStore

/// Two inputs from outside the agent, chosen by the first byte:
/// - even: a `caracal apply -f` stream. Properties: nothing traps; parsing
///   is deterministic; an error has a message; every accepted resource
///   encodes, and its record read back into `ClusterState` is accepted
///   (what `apply` stores, every agent can read).
/// - odd: raw datastore records, `KEY\nVALUE` separated by NUL bytes, as
///   another writer could leave them. Properties: nothing traps; a record
///   that does not decode is reported and left out; the node's plan and
///   policy input are worked out from whatever remains.
func fuzzCluster(_ data: UnsafeRawBufferPointer) {
    guard let mode = data.first else { return }
    let rest = UnsafeRawBufferPointer(rebasing: data.dropFirst())
    if mode % 2 == 0 {
        let text = String(decoding: rest, as: UTF8.self)
        let first = Result { try ClusterResource.parse(text) }
        let second = Result { try ClusterResource.parse(text) }
        switch (first, second) {
        case (.success(let a), .success(let b)):
            guard a == b else { fatalError("parsing is not deterministic") }
            var state = ClusterState()
            for (i, r) in a.enumerated() {
                guard let value = try? r.encoded() else { fatalError("\(r.reference) does not encode") }
                let (_, error) = state.apply(.put(KeyValue(key: r.key, value: value, modRevision: Int64(i + 1))))
                if let error { fatalError("\(r.reference) stored but not readable: \(error)") }
            }
            plan(state)
        case (.failure(let a), .failure(let b)):
            guard "\(a)" == "\(b)" else { fatalError("errors are not deterministic") }
            guard !"\(a)".isEmpty else { fatalError("an error without a message") }
        default:
            fatalError("parsing is not deterministic")
        }
    } else {
        var state = ClusterState()
        for (i, record) in rest.split(separator: 0).enumerated() {
            guard let newline = record.firstIndex(of: UInt8(ascii: "\n")) else { continue }
            let key = String(decoding: record[record.startIndex..<newline], as: UTF8.self)
            let value = Data(record[(newline + 1)...])
            let (_, error) = state.apply(.put(KeyValue(key: key, value: value, modRevision: Int64(i + 1))))
            if let error, "\(error)".isEmpty { fatalError("an error without a message") }
        }
        plan(state)
    }
}

private func plan(_ state: ClusterState) {
    for name in Array(state.nodes.keys.prefix(3)) + ["n1"] {
        let plan = NodePlan(state, node: name, isLive: { _ in true })
        guard plan.originate == plan.originate.sorted() else { fatalError("originated prefixes unsorted") }
        _ = PolicyInput(state, node: name)
    }
}

#if FUZZING
@_cdecl("FuzzClusterResource_main")
public func fuzzerMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> Int32 {
    FuzzTarget.runLibFuzzer(argc, argv, { $0.withUnsafeBytes(fuzzCluster) })
}
#else
@main
struct Replay {
    static func main() { FuzzTarget.replay(name: "FuzzClusterResource") { $0.withUnsafeBytes(fuzzCluster) } }
}
#endif
