import ArgumentParser
import Foundation
import SiloMetadata

/// `silo admin`: the operator's view of the metadata database (access keys, the node registry).
struct AdminCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "admin",
        abstract: "Manage access keys and storage nodes; the cluster's redundancy and repair.",
        subcommands: [AdminKeysCommand.self, AdminNodesCommand.self, AdminClusterCommand.self])
}

/// `--database-url`, shared by every admin command, with `SILO_DATABASE_URL` as its fallback.
struct DatabaseOptions: ParsableArguments {
    @Option(help: ArgumentHelp(
        "libpq conninfo or URI of the metadata database (default: $SILO_DATABASE_URL).",
        valueName: "url"))
    var databaseURL: String?

    /// Opens the store (applying missing migrations), runs `body`, and shuts the pool down. Every failure
    /// comes out as an `AdminError`: one line, no stack, exit status 1.
    func withStore<T>(_ body: (MetadataStore) async throws -> T) async throws -> T {
        let store: MetadataStore
        do {
            store = try await MetadataStore.open(try configuration())
        } catch let error as AdminError {
            throw error
        } catch {
            throw AdminError("cannot open the metadata database: \(AdminError.oneLine(error))")
        }
        do {
            let value = try await body(store)
            await store.shutdown()
            return value
        } catch {
            await store.shutdown()
            throw error is AdminError ? error : AdminError(AdminError.oneLine(error))
        }
    }

    private func configuration() throws -> DatabaseConfiguration {
        let environment = ProcessInfo.processInfo.environment[DatabaseConfiguration.urlEnvironmentVariable]
        guard let url = [databaseURL, environment].compactMap({ $0 }).first(where: { !$0.isEmpty }) else {
            throw AdminError("""
                no metadata database given: pass --database-url URL or set \
                \(DatabaseConfiguration.urlEnvironmentVariable) (a libpq conninfo such as \
                'host=/var/run/postgresql user=postgres' or a URI such as postgresql://user@host:5432/silo)
                """)
        }
        var limits = MetadataLimits()
        // One command, one statement at a time: two connections are plenty, and a database that is away
        // should fail the command at once rather than after the gateway's retries.
        limits.poolConnections = 2
        limits.transactionAttemptsMax = 1
        return DatabaseConfiguration(connectionString: url, applicationName: "silo-admin", limits: limits)
    }
}

/// A failure of an admin command, printed by ArgumentParser as one `Error: …` line.
struct AdminError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }

    /// libpq's messages span lines (`connection to server … failed:\n\tIs the server running…`).
    static func oneLine(_ error: any Error) -> String {
        String(describing: error).split(whereSeparator: \.isNewline)
            .map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }.joined(separator: " ")
    }
}

/// Prints `value` as one JSON document with stable key order, for scripts.
func printJSON(_ value: some Encodable) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
    print(String(decoding: try encoder.encode(value), as: UTF8.self))
}

/// Left-aligned columns with two spaces between them, for people.
func printTable(_ header: [String], _ rows: [[String]]) {
    let widths = header.indices.map { column in ([header] + rows).map { $0[column].count }.max() ?? 0 }
    for row in [header] + rows {
        let cells = row.enumerated().map { column, cell in
            column == row.count - 1 ? cell : cell.padding(toLength: widths[column], withPad: " ", startingAt: 0)
        }
        print(cells.joined(separator: "  "))
    }
}
