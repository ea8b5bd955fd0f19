import ArgumentParser

/// `silo cluster up|down|status`: a private PostgreSQL, N nodes and a gateway as child processes.
struct ClusterCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cluster",
        abstract: "Start, inspect and stop a local cluster (PostgreSQL, nodes, gateway).",
        subcommands: [])
}
