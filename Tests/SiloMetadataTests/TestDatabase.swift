import Foundation
import SiloCluster
import SiloCore
import Synchronization
import Testing

@testable import SiloMetadata

#if canImport(Glibc)
import Glibc
#endif

/// The one PostgreSQL of a test run: `SILO_DATABASE_URL` when set, otherwise a private instance started on
/// first use and stopped when the test process exits. Each test gets a schema of its own in it.
enum TestDatabase {
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

    static var usesExternalServer: Bool {
        !(ProcessInfo.processInfo.environment[DatabaseConfiguration.urlEnvironmentVariable] ?? "").isEmpty
    }

    static func connectionString() async throws -> String { try await connectionStringTask.value }

    /// A configuration for a fresh schema of its own.
    static func configuration(poolConnections: Int = 4, applicationName: String = "silo-test")
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
    static func withStore<T>(
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

/// A chunk placement for tests: `index` numbered from 0 with `length` bytes each.
func placements(_ count: Int, length: Int64 = 100, tag: String = UUID().uuidString.prefix(8).lowercased())
    -> [ChunkPlacement]
{
    (0..<count).map { index in
        ChunkPlacement(chunkID: try! ChunkID("c-\(tag)-\(index)"), index: index, offset: ByteCount(Int64(index) * length),
                       length: ByteCount(length), crc32c: UInt32(index) &* 2_654_435_761,
                       replicas: [try! NodeID("node1"), try! NodeID("node2")])
    }
}

func bucket(_ name: String) -> BucketName { try! BucketName(name) }
func key(_ value: String) -> ObjectKey { try! ObjectKey(value) }

/// Uploads an object of `chunkCount` chunks through the pending path and commits it.
@discardableResult
func putObject(_ store: MetadataStore, _ bucketName: BucketName, _ objectKey: ObjectKey, chunkCount: Int = 2,
               etag: String = "etag") async throws -> (CommitResult, [ChunkPlacement]) {
    let chunks = placements(chunkCount)
    let upload = try await store.beginUpload(bucket: bucketName, key: objectKey)
    try await store.recordPlacedChunks(upload, chunks)
    let size = ByteCount(chunks.reduce(0) { $0 + $1.length.bytes })
    let result = try await store.commitUpload(upload, attributes: ObjectAttributes(size: size, etag: etag))
    return (result, chunks)
}
