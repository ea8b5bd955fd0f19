import Foundation
import SiloCluster
import SiloCore
import Synchronization

import SiloMetadata

#if canImport(Glibc)
import Glibc
#endif

/// The one PostgreSQL of a test run, for every test target (they all link into one test process):
/// `SILO_DATABASE_URL` when set, otherwise a private instance started on first use and stopped when the
/// test process exits. Each test gets a schema of its own in it.
package enum TestDatabase {
    static let directoryPrefix = "/tmp/silo-test-postgres-"

    /// The instance this process started, stopped by the exit hook.
    private static let started = Mutex<PostgresInstance?>(nil)

    private static let connectionStringTask = Task<String, any Error> {
        if let url = ProcessInfo.processInfo.environment[DatabaseConfiguration.urlEnvironmentVariable], !url.isEmpty {
            return url
        }
        return try await DedicatedThread.run(name: "postgres") {
            stopInstancesOfDeadRuns()
            var options = PostgresInstance.Options()
            options.durable = false
            let instance = try PostgresInstance.start(in: directoryPrefix + String(getpid()), options: options)
            started.withLock { $0 = instance }
            atexit { TestDatabase.stopAtExit() }
            return instance.connectionString()
        }
    }

    package static var usesExternalServer: Bool {
        !(ProcessInfo.processInfo.environment[DatabaseConfiguration.urlEnvironmentVariable] ?? "").isEmpty
    }

    package static func connectionString() async throws -> String { try await connectionStringTask.value }

    /// A configuration for a fresh schema of its own.
    package static func configuration(poolConnections: Int = 4, applicationName: String = "silo-test")
        async throws -> DatabaseConfiguration
    {
        var limits = MetadataLimits()
        limits.poolConnections = poolConnections
        limits.retryBackoff = .milliseconds(5)
        let schema = "t_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
        return DatabaseConfiguration(connectionString: try await connectionString(), schema: schema,
                                     applicationName: applicationName, limits: limits)
    }

    /// A migrated store in a fresh schema, dropped afterwards.
    package static func withStore<T>(
        poolConnections: Int = 4, _ body: (MetadataStore) async throws -> T
    ) async throws -> T {
        let configuration = try await configuration(poolConnections: poolConnections)
        let store = try await MetadataStore.open(configuration)
        do {
            let value = try await body(store)
            try await dropSchema(of: store)
            return value
        } catch {
            try? await dropSchema(of: store)
            throw error
        }
    }

    /// A migrated store in a fresh schema of its own; `dropAndClose` ends it.
    package static func openStore(poolConnections: Int = 6, applicationName: String = "silo-test") async throws
        -> MetadataStore {
        try await MetadataStore.open(configuration(poolConnections: poolConnections, applicationName: applicationName))
    }

    /// Drops the store's schema and closes its connections, whatever state the test left it in.
    package static func dropAndClose(_ store: MetadataStore) async {
        do { try await dropSchema(of: store) } catch { await store.shutdown() }
    }

    private static func dropSchema(of store: MetadataStore) async throws {
        let schema = store.pool.configuration.schema!
        try await store.pool.withConnection { connection in
            _ = try connection.execute(sql: "DROP SCHEMA \(schema) CASCADE")
        }
        await store.shutdown()
    }

    private static func stopAtExit() {
        let instance = started.withLock { instance -> PostgresInstance? in
            defer { instance = nil }
            return instance
        }
        try? instance?.stop(removingDirectory: true)
    }

    /// A run that crashed could not run its exit hook: stop its server and remove its directory.
    private static func stopInstancesOfDeadRuns() {
        let parent = (directoryPrefix as NSString).deletingLastPathComponent
        let stem = (directoryPrefix as NSString).lastPathComponent
        for name in (try? FileManager.default.contentsOfDirectory(atPath: parent)) ?? [] where name.hasPrefix(stem) {
            guard let owner = pid_t(name.dropFirst(stem.count)), owner != getpid(), kill(owner, 0) != 0 else {
                continue
            }
            let directory = parent + "/" + name
            if let text = try? String(contentsOfFile: directory + "/data/postmaster.pid", encoding: .utf8),
               let line = text.split(separator: "\n").first, let server = pid_t(line) {
                kill(server, SIGQUIT)
            }
            try? FileManager.default.removeItem(atPath: directory)
        }
    }
}
