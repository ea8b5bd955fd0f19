import ArgumentParser

/// `silo gateway`: the S3 endpoint over the nodes and PostgreSQL.
struct GatewayCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gateway",
        abstract: "Run an S3 gateway: the object API over the storage nodes, metadata in PostgreSQL.")
}
