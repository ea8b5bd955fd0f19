import ArgumentParser

@main
struct Silo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "silo",
        abstract: "Silo: an S3-compatible object store.",
        subcommands: [NodeCommand.self, GatewayCommand.self, ClusterCommand.self, AdminCommand.self])
}
