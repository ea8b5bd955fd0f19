import Foundation
import SiloCluster
import SiloCore
import SiloMetadata

#if canImport(Glibc)
import Glibc
#endif

/// The metadata path against PostgreSQL: a private, durable instance the workload starts in the data
/// directory (fsync on, as `silo cluster` runs it), or the server `SILO_DATABASE_URL` names.
///
/// - `db.query.avg_ms` / `db.query.p99_ms`: the download path's point lookup (an object's version and its
///   chunks, one query), one client, one after another: latency, not throughput.
/// - `db.commit.tps`: the upload-commit transaction (pending chunks become the visible version, the
///   replaced version's chunks go to GC) from 16 concurrent clients; the pending uploads are recorded before
///   the clock starts.
///
/// No machine limit bounds these figures in the calibration's terms, so they carry none.
struct MetadataWorkload: Workload {
    static let name = "metadata"

    static let queryAverage = FigureSpec(name: "db.query.avg_ms", unit: .milliseconds, target: 10, goal: 1,
                                         better: .lower, limitedBy: [])
    static let queryP99 = FigureSpec(name: "db.query.p99_ms", unit: .milliseconds, target: 50, goal: 5,
                                     better: .lower, limitedBy: [])
    static let commitRate = FigureSpec(name: "db.commit.tps", unit: .operationsPerSecond, target: 1000, goal: 10_000,
                                       better: .higher, limitedBy: [])
    static let specs = [queryAverage, queryP99, commitRate]

    static let commitClients = 16
    static let chunksPerObject = 4

    init() {}

    func run(_ context: WorkloadContext) async throws -> WorkloadOutcome {
        let objectCount = context.quick ? 500 : 2000
        let lookups = context.quick ? 2000 : 10_000
        let commitsPerClient = context.quick ? 50 : 250

        return try await Self.withStore(context) { store in
            let bucket = try BucketName("bench")
            try await store.createBucket(bucket)
            let keys = try (0..<objectCount).map { try ObjectKey(String(format: "photos/%06d.jpg", $0)) }
            Progress.line("metadata: writing \(objectCount) objects")
            for batch in stride(from: 0, to: keys.count, by: Self.commitClients) {
                let slice = keys[batch..<min(batch + Self.commitClients, keys.count)]
                try await Self.commitAll(store, bucket, Array(slice), tag: "seed\(batch)")
            }

            let recorder = FigureRecorder()
            for round in Round.plan(rounds: context.rounds) {
                let latencies = try await Self.lookUp(store, bucket, keys, count: lookups)
                let sorted = latencies.sorted()
                recorder.record(Self.queryAverage, sorted.reduce(0, +) / Double(sorted.count), in: round)
                recorder.record(Self.queryP99, sorted[min(sorted.count - 1, sorted.count * 99 / 100)], in: round)

                let commitKeys = try (0..<Self.commitClients * commitsPerClient).map {
                    try ObjectKey("uploads/r\(round.number)/\($0)")
                }
                let elapsed = try await Self.commitAll(store, bucket, commitKeys, tag: "r\(round.number)")
                recorder.record(Self.commitRate, Double(commitKeys.count) / elapsed.seconds, in: round)
            }
            return WorkloadOutcome(figures: recorder.figures(Self.specs), node: nil)
        }
    }

    /// `count` point lookups of random keys, one after another; each one's latency in milliseconds.
    static func lookUp(_ store: MetadataStore, _ bucket: BucketName, _ keys: [ObjectKey], count: Int)
        async throws -> [Double]
    {
        var generator = SystemRandomNumberGenerator()
        var latencies: [Double] = []
        latencies.reserveCapacity(count)
        let clock = ContinuousClock()
        for _ in 0..<count {
            let key = keys.randomElement(using: &generator)!
            let start = clock.now
            let object = try await store.object(bucket: bucket, key: key)
            latencies.append((clock.now - start).seconds * 1000)
            guard object?.chunks.count == chunksPerObject else {
                throw BenchError("lookup of \(key) returned \(object?.chunks.count ?? -1) chunks")
            }
        }
        return latencies
    }

    /// Records a pending upload for every key (untimed), then commits them all from `commitClients`
    /// clients; returns the wall time of the commits.
    @discardableResult
    static func commitAll(_ store: MetadataStore, _ bucket: BucketName, _ keys: [ObjectKey], tag: String)
        async throws -> Duration
    {
        let pending = try await inParallel(keys.indices.map { $0 }) { index in
            let upload = try await store.beginUpload(bucket: bucket, key: keys[index])
            try await store.recordPlacedChunks(upload, try placements(tag: "\(tag)-\(index)"))
            return upload
        }
        let size = ByteCount(Int64(chunksPerObject) * GatewayLimits().chunkBytes)
        let clock = ContinuousClock()
        let start = clock.now
        _ = try await inParallel(pending) { upload in
            try await store.commitUpload(upload, attributes: ObjectAttributes(size: size, etag: "\"bench\""))
        }
        return clock.now - start
    }

    /// Runs `body` over `items` with at most `commitClients` in flight.
    static func inParallel<Item: Sendable, Result: Sendable>(
        _ items: [Item], _ body: @escaping @Sendable (Item) async throws -> Result
    ) async throws -> [Result] {
        try await withThrowingTaskGroup(of: Result.self) { group in
            var results: [Result] = []
            results.reserveCapacity(items.count)
            for (index, item) in items.enumerated() {
                if index >= commitClients, let result = try await group.next() { results.append(result) }
                group.addTask { try await body(item) }
            }
            for try await result in group { results.append(result) }
            return results
        }
    }

    /// Four chunks of the gateway's default size on two replicas, as a 64 MiB object would be placed.
    static func placements(tag: String) throws -> [ChunkPlacement] {
        let length = GatewayLimits().chunkBytes
        let replicas = [try NodeID("node1"), try NodeID("node2")]
        return try (0..<chunksPerObject).map { index in
            ChunkPlacement(chunkID: try ChunkID("bench-\(tag)-\(index)"), index: index,
                           offset: ByteCount(Int64(index) * length), length: ByteCount(length),
                           crc32c: UInt32(truncatingIfNeeded: index &* 0x9E37_79B9), replicas: replicas)
        }
    }

    /// A migrated store on `SILO_DATABASE_URL` (in a schema of its own, dropped afterwards) or on a private
    /// PostgreSQL in the data directory, stopped and removed afterwards.
    static func withStore<T: Sendable>(
        _ context: WorkloadContext, _ body: (MetadataStore) async throws -> T
    ) async throws -> T {
        let external = ProcessInfo.processInfo.environment[DatabaseConfiguration.urlEnvironmentVariable] ?? ""
        var instance: PostgresInstance?
        var configuration: DatabaseConfiguration
        if external.isEmpty {
            Progress.line("metadata: starting a private PostgreSQL in \(context.dataDirectory)/postgres")
            let started = try await DedicatedThread.run(name: "postgres-start") {
                try PostgresInstance.start(in: context.dataDirectory + "/postgres")
            }
            instance = started
            configuration = DatabaseConfiguration(connectionString: started.connectionString(),
                                                  applicationName: "silo-bench")
        } else {
            configuration = DatabaseConfiguration(connectionString: external, schema: "silo_bench_\(getpid())",
                                                  applicationName: "silo-bench")
        }
        configuration.limits.poolConnections = commitClients * 2
        let stopInstance = { @Sendable [instance] in
            guard let instance else { return }
            _ = try? await DedicatedThread.run(name: "postgres-stop") { try instance.stop(removingDirectory: true) }
        }
        let store: MetadataStore
        do {
            store = try await MetadataStore.open(configuration)
        } catch {
            await stopInstance()
            throw error
        }
        do {
            let value = try await body(store)
            await cleanUp(store, schema: configuration.schema)
            await stopInstance()
            return value
        } catch {
            await cleanUp(store, schema: configuration.schema)
            await stopInstance()
            throw error
        }
    }

    private static func cleanUp(_ store: MetadataStore, schema: String?) async {
        if let schema {
            _ = try? await store.pool.withConnection { connection in
                _ = try connection.execute(sql: "DROP SCHEMA \(schema) CASCADE")
            }
        }
        await store.shutdown()
    }
}
