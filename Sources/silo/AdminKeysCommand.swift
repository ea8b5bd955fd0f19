import ArgumentParser
import Foundation
import SiloCore
import SiloMetadata

/// `silo admin keys`: the access keys SigV4 requests are signed with.
struct AdminKeysCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keys",
        abstract: "Create, list and delete S3 access keys.",
        subcommands: [Create.self, List.self, Delete.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create an access key pair (generated, or imported with --access-key and --secret-key).",
            discussion: """
                Prints SILO_ACCESS_KEY=… and SILO_SECRET_KEY=… lines (shell-safe), or JSON with --json. The \
                secret is shown only here: listings never include it.
                """)

        @OptionGroup var database: DatabaseOptions

        @Option(help: "Import this access key id instead of generating one (3–128 of A–Z a–z 0–9 - _ .).")
        var accessKey: String?

        @Option(help: "The secret of the imported key (8–128 printable ASCII characters, no spaces).")
        var secretKey: String?

        @Flag(help: "Print the pair as JSON.")
        var json = false

        func validate() throws {
            guard (accessKey == nil) == (secretKey == nil) else {
                throw ValidationError("--access-key and --secret-key go together: give both to import, neither to generate")
            }
        }

        func run() async throws {
            let pair: AccessKeyPair
            if let accessKey, let secretKey {
                do {
                    pair = try AccessKeyPair(accessKey: accessKey, secretKey: secretKey)
                } catch {
                    throw AdminError("cannot import the key: \(error)")
                }
            } else {
                pair = AccessKeyPair.generate()
            }
            try await database.withStore { store in try await store.createAccessKey(pair) }
            if json {
                try printJSON(["access_key": pair.accessKey, "secret_key": pair.secretKey])
            } else {
                print("SILO_ACCESS_KEY=\(pair.accessKey)")
                print("SILO_SECRET_KEY=\(pair.secretKey)")
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List access keys (never their secrets).")

        @OptionGroup var database: DatabaseOptions

        @Flag(help: "Print the keys as JSON.")
        var json = false

        private struct Row: Encodable {
            let access_key: String
            let active: Bool
            let created_at: String
        }

        func run() async throws {
            let keys = try await database.withStore { store in try await store.accessKeys() }
            let rows = keys.map {
                Row(access_key: $0.accessKey, active: $0.active, created_at: $0.createdAt.formatted(.iso8601))
            }
            if json {
                try printJSON(rows)
            } else {
                printTable(["ACCESS KEY", "ACTIVE", "CREATED"],
                           rows.map { [$0.access_key, $0.active ? "yes" : "no", $0.created_at] })
            }
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Delete an access key: requests signed with it are refused from then on.")

        @OptionGroup var database: DatabaseOptions

        @Argument(help: "The access key id.")
        var accessKey: String

        func run() async throws {
            try await database.withStore { store in try await store.deleteAccessKey(accessKey) }
            print("deleted access key \(accessKey)")
        }
    }
}
