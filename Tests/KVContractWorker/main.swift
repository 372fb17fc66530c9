import Datastore
import Foundation
import KeyValueStore

/// A second process for the datastore contract suite's races: the same
/// file (or etcd) opened by other processes, as the CNI plugin and the agent do.
/// LOCATION is a path, embedded:PATH or etcd:URL.
///   kv-contract-worker increment LOCATION KEY COUNT   (read-modify-write COUNT times)
///   kv-contract-worker claim LOCATION KEY ID          (create KEY if absent; prints "won" or "lost")
let args = CommandLine.arguments
guard args.count == 5 else {
    FileHandle.standardError.write(Data("usage: kv-contract-worker increment|claim PATH KEY COUNT|ID\n".utf8))
    exit(2)
}
let store = try DatastoreLocation(parsing: args[2]).open()
let key = args[3]
switch args[1] {
case "increment":
    for _ in 0..<(Int(args[4]) ?? 0) {
        try store.transaction { tx in
            let n = try tx.get(key).flatMap { Int(String(decoding: $0, as: UTF8.self)) } ?? 0
            try tx.put(key, Data(String(n + 1).utf8))
        }
    }
case "claim":
    let won = try store.transaction { tx -> Bool in
        guard try tx.get(key) == nil else { return false }
        try tx.put(key, Data(args[4].utf8))
        return true
    }
    print(won ? "won" : "lost")
default:
    exit(2)
}
