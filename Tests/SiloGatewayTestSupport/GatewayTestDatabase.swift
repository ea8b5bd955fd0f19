import Foundation
import SiloCluster
import SiloCore
import SiloMetadata
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The one PostgreSQL of a test run for the gateway's tests: `SILO_DATABASE_URL` when set, otherwise a
/// private instance started on first use and stopped when the test process exits. Each test gets a schema
/// of its own in it. The approach of `SiloMetadataTests/TestDatabase.swift`, with a directory prefix of its
/// own: all test targets link into one test process, so both helpers may run side by side.
package enum GatewayTestDatabase {
    static let directoryPrefix = "/tmp/silo-gateway-test-postgres-"

    /// The instance this process started, stopped by the exit hook.
    private static let started = Mutex<PostgresInstance?>(nil)

    private static let connectionStringTask = Task<String, any Error> {
        if let url = ProcessInfo.processInfo.environment[DatabaseConfiguration.urlEnvironmentVariable], !url.isEmpty {
            return url
        }
        return try await runOnOwnThread {
            stopInstancesOfDeadRuns()
            var options = PostgresInstance.Options()
            options.durable = false
            let instance = try PostgresInstance.start(in: directoryPrefix + String(getpid()), options: options)
            started.withLock { $0 = instance }
            atexit { GatewayTestDatabase.stopAtExit() }
            return instance.connectionString()
        }
    }

    static func connectionString() async throws -> String { try await connectionStringTask.value }

    /// A migrated store in a fresh schema of its own.
    static func openStore(poolConnections: Int = 6) async throws -> MetadataStore {
        var limits = MetadataLimits()
        limits.poolConnections = poolConnections
        limits.retryBackoff = .milliseconds(5)
        let schema = "g_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
        let configuration = DatabaseConfiguration(connectionString: try await connectionString(), schema: schema,
                                                  applicationName: "silo-gateway-test", limits: limits)
        return try await MetadataStore.open(configuration)
    }

    /// Drops the store's schema and closes its connections.
    static func dropAndClose(_ store: MetadataStore) async {
        if let schema = store.pool.configuration.schema {
            try? await store.pool.withConnection { connection in
                _ = try connection.execute(sql: "DROP SCHEMA \(schema) CASCADE")
            }
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

/// Runs blocking work (initdb, pg_ctl) on a thread of its own, off the cooperative pool.
package func runOnOwnThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread { continuation.resume(with: Result { try body() }) }.start()
    }
}
