import ArgumentParser
import Datastore
import Foundation

/// `caracal datastore ...`: the datastore as a whole (docs/datastore.md).
struct DatastoreCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "datastore",
        abstract: "Move the datastore between backends.",
        subcommands: [Migrate.self])

    struct Migrate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Copy every key from one datastore to another (e.g. --from embedded:PATH --to etcd:URL), then read it back. Refuses a target holding other data unless --force; safe to re-run.")

        @Option(help: "The source: embedded:PATH, a path, or etcd:URL[,URL...].")
        var from: String
        @Option(help: "The target, in the same forms.")
        var to: String
        @Flag(help: "Overwrite keys the target holds with other values (keys only in the target stay).")
        var force = false
        @OptionGroup var etcd: EtcdOptions
        @Flag(help: "Print JSON instead of text.")
        var json = false

        func run() throws {
            let source = try etcd.apply(to: DatastoreLocation(parsing: from))
            let target = try etcd.apply(to: DatastoreLocation(parsing: to))
            do {
                let report = try DatastoreMigration.run(from: try source.open(), to: try target.open(), force: force)
                if json { return try printJSON(report) }
                print("migrated \(report.sourceKeys) keys from \(source) to \(target): \(report.written) written, \(report.alreadyEqual) already there")
                if !report.overwritten.isEmpty { print("overwritten: \(report.overwritten.joined(separator: ", "))") }
                if !report.targetOnly.isEmpty { print("left in the target (not in the source): \(report.targetOnly.joined(separator: ", "))") }
            } catch let failure as DatastoreMigration.Failure {
                FileHandle.standardError.write(Data("caracal: \(failure)\n".utf8))
                throw ExitCode(1)
            }
        }
    }
}
