import ArgumentParser

/// The `caracal` command line: operator tools now, the node agent later.
/// Each area registers its commands in its own file (BGPCommands.swift, ...).
@main
struct Caracal: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "caracal",
        abstract: "Caracal: an L3 routed container network.",
        version: CaracalVersion.string,
        subcommands: [
            AgentCommand.self,
            StatusCommand.self,
            BGPCommand.self,
            IPAMCommand.self,
            RoutesCommand.self,
            PolicyCommand.self,
            DatastoreCommand.self,
            ApplyCommand.self,
            DeleteCommand.self,
            ClusterCommand.self,
        ]
    )
}

enum CaracalVersion {
    static let string = "0.1.0-dev"
}
