import Foundation
import SiloTestSupport
import SiloCluster
import SiloCore
import Synchronization
import Testing

@testable import SiloMetadata

@Suite struct ConnectionPoolTests {
    /// The reference suite's test_database_connection_pool: 200 concurrent queries through a pool of 20 all
    /// succeed, and the server never sees more than 20 connections of ours.
    @Test func test_database_connection_pool() async throws {
        let name = "silo-pool-" + UUID().uuidString.prefix(8)
        var configuration = try await TestDatabase.configuration(poolConnections: 20, applicationName: name)
        configuration.schema = nil
        let pool = try ConnectionPool(configuration)
        let observer = try ConnectionPool(await TestDatabase.configuration(poolConnections: 1))
        let countOurs = Statement("test_count_ours", "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1")
        let highest = Atomic<Int>(0)
        let sampling = Atomic<Bool>(true)

        // The observer samples pg_stat_activity from outside the pool while the queries run.
        let sampler = Task {
            while sampling.load(ordering: .relaxed) {
                let seen = try await observer.withConnection { try $0.execute(countOurs, [name]).requiredInt64(0, 0) }
                highest.max(Int(seen), ordering: .relaxed)
            }
        }
        let results = try await withThrowingTaskGroup(of: Int64.self) { group in
            for index in 0..<200 {
                group.addTask {
                    try await pool.withConnection { connection in
                        // Long enough that the queries overlap and the pool runs out of connections.
                        try connection.execute(Statement("test_sleep", "SELECT $1::bigint FROM pg_sleep(0.01)"),
                                               [String(index)]).requiredInt64(0, 0)
                    }
                }
            }
            return try await group.reduce(into: [Int64]()) { $0.append($1) }
        }
        sampling.store(false, ordering: .relaxed)
        try await sampler.value
        #expect(results.sorted() == (0..<200).map(Int64.init))
        #expect(highest.load(ordering: .relaxed) <= 20)
        #expect(highest.load(ordering: .relaxed) > 1)
        let afterwards = try await observer.withConnection { try $0.execute(countOurs, [name]).requiredInt64(0, 0) }
        #expect(afterwards <= 20)
        await pool.shutdown()
        await observer.shutdown()
    }

    @Test func acquiringPastTheLimitFailsAfterTheDeadlineWithARetryableError() async throws {
        var configuration = try await TestDatabase.configuration(poolConnections: 1)
        configuration.schema = nil
        configuration.limits.acquireTimeout = .milliseconds(100)
        let pool = try ConnectionPool(configuration)
        let holder = Task {
            try await pool.withConnection { _ = try $0.execute(sql: "SELECT pg_sleep(1)") }
        }
        try await Task.sleep(for: .milliseconds(100))
        let clock = ContinuousClock()
        let start = clock.now
        do {
            _ = try await pool.withConnection { try $0.execute(sql: "SELECT 1").rowCount }
            Issue.record("acquired a connection the pool did not have")
        } catch let error as DatabaseError {
            #expect(error == .poolExhausted(connections: 1, waitedMilliseconds: 100))
            #expect(error.isRetryable)
        }
        #expect(clock.now - start < .milliseconds(900))
        _ = try await holder.value
        // Once released, the connection serves again.
        #expect(try await pool.withConnection { try $0.execute(sql: "SELECT 1").rowCount } == 1)
        await pool.shutdown()
    }

    @Test func serverErrorsCarrySQLStateAndKeepTheConnection() async throws {
        var configuration = try await TestDatabase.configuration(poolConnections: 1)
        configuration.schema = nil
        let pool = try ConnectionPool(configuration)
        do {
            _ = try await pool.withConnection { try $0.execute(sql: "SELECT 1/0").rowCount }
            Issue.record("division by zero succeeded")
        } catch let error as DatabaseError {
            #expect(error.sqlState == "22012")
            #expect(!error.isRetryable)
        }
        let pid1 = try await pool.withConnection { try $0.execute(sql: "SELECT pg_backend_pid()").requiredInt64(0, 0) }
        let pid2 = try await pool.withConnection { try $0.execute(sql: "SELECT pg_backend_pid()").requiredInt64(0, 0) }
        #expect(pid1 == pid2)
        await pool.shutdown()
    }

    @Test func pipelineInsertsManyRowsAndReportsTheFirstFailure() async throws {
        try await TestDatabase.withStore { store in
            let pool = store.pool
            let insert = Statement("test_pipeline_insert", "INSERT INTO access_keys (access_key_id, secret_key) VALUES ($1, $2)")
            let inserted = try await pool.transaction { connection in
                try connection.pipeline(insert, (0..<500).map { ["key\($0)", "secret"] })
            }
            #expect(inserted == 500)
            do {
                _ = try await pool.transaction { connection in
                    try connection.pipeline(insert, [["new1", "s"], ["key7", "s"], ["new2", "s"]])
                }
                Issue.record("a duplicate key went in")
            } catch let error as DatabaseError {
                #expect(error.sqlState == SQLState.uniqueViolation)
            }
            let count = try await pool.read { try $0.execute(sql: "SELECT count(*) FROM access_keys").requiredInt64(0, 0) }
            #expect(count == 500)  // the failed transaction left nothing
        }
    }
}

@Suite struct ConcurrencyTests {
    /// Two commits of one key race: both succeed (last writer wins), one version remains, and the other's
    /// chunks are in the GC queue; no chunk row is left without its version.
    @Test func concurrentCommitsOfOneKey() async throws {
        try await TestDatabase.withStore(poolConnections: 8) { store in
            try await store.createBucket(bucket("race"))
            for round in 0..<20 {
                let objectKey = key("key-\(round)")
                let uploads = try await withThrowingTaskGroup(of: (PendingUploadID, [ChunkPlacement]).self) { group in
                    for _ in 0..<2 {
                        group.addTask {
                            let chunks = placements(3)
                            let upload = try await store.beginUpload(bucket: bucket("race"), key: objectKey)
                            try await store.recordPlacedChunks(upload, chunks)
                            return (upload, chunks)
                        }
                    }
                    return try await group.reduce(into: []) { $0.append($1) }
                }
                let results = try await withThrowingTaskGroup(of: CommitResult.self) { group in
                    for (upload, _) in uploads {
                        group.addTask {
                            try await store.commitUpload(upload, attributes: ObjectAttributes(size: ByteCount(300), etag: "e"))
                        }
                    }
                    return try await group.reduce(into: []) { $0.append($1) }
                }
                #expect(results.map(\.chunksRetired).sorted() == [0, 3])
                let current = try #require(try await store.object(bucket: bucket("race"), key: objectKey))
                let winner = results.first { $0.chunksRetired == 3 }!
                #expect(current.versionID == winner.versionID)
                let loserChunks = uploads.map(\.1).first { $0 != current.chunks }!
                #expect(current.chunks == uploads.map(\.1).first { $0 == current.chunks })
                let garbage = try await store.claimGarbage(count: 100, lease: .seconds(60))
                #expect(Set(garbage.map(\.chunkID)) == Set(loserChunks.map(\.chunkID)))
                try await store.acknowledgeGarbage(garbage.map(\.gcID))
            }
            let (versions, chunks, pending) = try await store.pool.read { connection in
                (try connection.execute(sql: "SELECT count(*) FROM object_versions").requiredInt64(0, 0),
                 try connection.execute(sql: "SELECT count(*) FROM chunks").requiredInt64(0, 0),
                 try connection.execute(sql: "SELECT count(*) FROM pending_uploads").requiredInt64(0, 0))
            }
            #expect(versions == 20)
            #expect(chunks == 60)
            #expect(pending == 0)
        }
    }
}

/// PostgreSQL stopped and started under a live pool. Uses an instance of its own: stopping the shared one
/// would fail every test running beside it.
@Suite struct RestartTests {
    @Test(.enabled(if: !TestDatabase.usesExternalServer, "needs a server it may restart"))
    func poolRecoversAfterPostgresRestarts() async throws {
        let directory = "/tmp/silo-test-restart-\(getpid())-" + UUID().uuidString.prefix(6)
        var options = PostgresInstance.Options()
        options.durable = false
        let instanceOptions = options
        let instance = try await DedicatedThread.run(name: "postgres") {
            try PostgresInstance.start(in: directory, options: instanceOptions)
        }
        defer { try? instance.stop(removingDirectory: true) }

        var limits = MetadataLimits()
        limits.poolConnections = 4
        limits.retryBackoff = .milliseconds(5)
        limits.connectTimeoutSeconds = 2
        let store = try await MetadataStore.open(DatabaseConfiguration(
            connectionString: instance.connectionString(), limits: limits))
        try await store.createBucket(bucket("before"))
        // Open every connection of the pool, so each one has to notice the restart.
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<4 { group.addTask { _ = try await store.bucketExists(bucket("before")) } }
            try await group.waitForAll()
        }

        try await DedicatedThread.run(name: "postgres") { try instance.stop() }
        do {
            _ = try await store.listBuckets()
            Issue.record("listed buckets with PostgreSQL stopped")
        } catch let error as DatabaseError {
            #expect(error.isRetryable, "\(error)")
        }
        await #expect(throws: DatabaseError.self) { try await store.createBucket(bucket("during")) }

        try await DedicatedThread.run(name: "postgres") { try instance.start() }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<8 { group.addTask {
                    let exists = try await store.bucketExists(bucket("before"))
                    #expect(exists)
                } }
            try await group.waitForAll()
        }
        try await store.createBucket(bucket("after"))
        #expect(try await store.listBuckets().map(\.name.value) == ["after", "before"])
        await store.shutdown()
    }
}
