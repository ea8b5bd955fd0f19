import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// An S3 endpoint the bench measures: a cluster it started, or one named on the command line.
struct S3Target: Sendable {
    let endpoint: S3Endpoint
    let credentials: S3Credentials
}

/// End to end through the S3 API, signed with SigV4, against a throwaway six-node cluster the workload
/// starts with `silo cluster up` at R=1 and again at R=2 (or against the endpoint `--s3-endpoint` names):
///
/// - `e2e.put.1stream` / `e2e.get.1stream`: one 1 GiB object over one connection;
/// - `e2e.put.50streams` / `e2e.get.100streams`: the reference suite's concurrency (test_concurrent.py's
///   50 uploads and 100 downloads), 10 MiB objects (its `test_upload_download_small_file` size; the suite
///   states none for the concurrent tests), each stream its own connection; aggregate MB/s from the first
///   request to the last response;
/// - `metadata.head.p99_ms`: HEADs of existing small objects from `metadataClients` concurrent clients;
/// - `metadata.list.p99_ms`: ListObjectsV2 pages of `listPageKeys` walking a prefix of `listKeys` keys
///   with continuation tokens, from the same clients.
///
/// Every figure records R and the chunk size. Throughput is limited by loopback TCP and the disk as the
/// chunk figures are; the client and the cluster share the machine's cores, which the ratio then shows.
/// The warm-up round also checks the data: downloads are CRC32C'd against what was uploaded.
struct E2EWorkload: Workload {
    static let name = "e2e"

    static let replicaCounts = [1, 2]
    static let uploadStreams = 50
    static let downloadStreams = 100
    static let metadataClients = 4
    static let listKeys = 300
    static let listPageKeys = 100
    static let smallObjectBytes = 1024

    /// The sizes of one run.
    struct Sizes {
        var oneStreamBytes: Int
        var concurrentObjectBytes: Int
        var headObjects: Int
        var headsPerRound: Int
        var listsPerRound: Int

        static let full = Sizes(oneStreamBytes: 1 << 30, concurrentObjectBytes: 10 << 20, headObjects: 2000,
                                headsPerRound: 4000, listsPerRound: 600)
        static let quick = Sizes(oneStreamBytes: 256 << 20, concurrentObjectBytes: 2 << 20, headObjects: 500,
                                 headsPerRound: 1000, listsPerRound: 200)
    }

    /// The six figures as measured at `replicas`. The throughput goals are stated for R=1; at R=2
    /// every uploaded byte goes to two nodes, so those figures carry the target only.
    struct Specs {
        let put1, get1, put50, get100, headP99, listP99: FigureSpec

        init(replicas: Int?, chunkBytes: Int?) {
            let goals = replicas == nil || replicas == 1
            func spec(_ name: String, _ unit: FigureUnit, target: Double?, goal: Double?, _ better: Better,
                      _ limits: [CalibrationFigure]) -> FigureSpec {
                FigureSpec(name: name, unit: unit, target: target, goal: goal, better: better, limitedBy: limits)
                    .on(replicas: replicas, chunkBytes: chunkBytes)
            }
            put1 = spec("e2e.put.1stream", .megabytesPerSecond, target: 100, goal: goals ? 500 : nil, .higher,
                        [.loopbackTCP, .diskWrite])
            get1 = spec("e2e.get.1stream", .megabytesPerSecond, target: 100, goal: goals ? 1000 : nil, .higher,
                        [.loopbackTCP, .diskRead])
            put50 = spec("e2e.put.\(uploadStreams)streams", .megabytesPerSecond, target: nil, goal: nil, .higher,
                         [.loopbackTCP, .diskWrite])
            get100 = spec("e2e.get.\(downloadStreams)streams", .megabytesPerSecond, target: nil, goal: nil,
                          .higher, [.loopbackTCP, .diskRead])
            headP99 = spec("metadata.head.p99_ms", .milliseconds, target: 50, goal: 5, .lower, [])
            listP99 = spec("metadata.list.p99_ms", .milliseconds, target: 50, goal: 5, .lower, [])
        }

        var all: [FigureSpec] { [put1, get1, put50, get100, headP99, listP99] }
    }

    init() {}

    func run(_ context: WorkloadContext) async throws -> WorkloadOutcome {
        let sizes = context.quick ? Sizes.quick : Sizes.full
        let pattern = BodyPattern()
        if let target = context.s3Target {
            Progress.line("e2e: measuring \(target.endpoint) (no cluster started)")
            let run = E2ERun(target: target, specs: Specs(replicas: nil, chunkBytes: nil), sizes: sizes,
                             rounds: context.rounds, pattern: pattern, cleanUp: true)
            return WorkloadOutcome(figures: try await run.measure(), node: nil)
        }
        var figures: [MeasuredFigure] = []
        for replicas in Self.replicaCounts {
            figures += try await ThrowawayCluster.withCluster(context, replicas: replicas) { cluster in
                let run = E2ERun(
                    target: S3Target(endpoint: cluster.endpoint, credentials: cluster.credentials),
                    specs: Specs(replicas: replicas, chunkBytes: cluster.chunkBytes), sizes: sizes,
                    rounds: context.rounds, pattern: pattern, cleanUp: false)
                return try await run.measure()
            }
        }
        return WorkloadOutcome(figures: figures, node: nil)
    }
}

/// One measurement of the six figures against one endpoint.
struct E2ERun: Sendable {
    let target: S3Target
    let specs: E2EWorkload.Specs
    let sizes: E2EWorkload.Sizes
    let rounds: Int
    let pattern: BodyPattern
    /// Delete what the run created (an endpoint the bench did not start); a throwaway cluster is purged.
    let cleanUp: Bool

    var bucket: String { "silo-bench-\(getpid())" }

    func client() -> S3Client { S3Client(endpoint: target.endpoint, credentials: target.credentials) }

    func measure() async throws -> [MeasuredFigure] {
        let control = client()
        try await control.createBucket(bucket)
        var recorder = FigureRecorder()
        try await oneStream(&recorder)
        try await manyStreams(&recorder)
        try await metadata(&recorder, control: control)
        await control.close()
        return recorder.figures(specs.all)
    }

    // MARK: - Throughput

    private func oneStream(_ recorder: inout FigureRecorder) async throws {
        let bytes = sizes.oneStreamBytes
        let expectedCRC = pattern.checksum(bytes: bytes)
        let client = client()
        try await client.connect()
        for round in Round.plan(rounds: rounds) {
            let key = "one/\(round.number)"
            let put = try await Self.timed {
                try await client.putObject(bucket: bucket, key: key, pattern: pattern, bytes: bytes)
            }
            recorder.record(specs.put1, megabytesPerSecond(bytes: bytes, in: put), in: round)
            let get = try await Self.timed {
                try await download(client, key: key, bytes: bytes, crc: round.isWarmUp ? expectedCRC : nil)
            }
            recorder.record(specs.get1, megabytesPerSecond(bytes: bytes, in: get), in: round)
            try await client.deleteObject(bucket: bucket, key: key)
        }
        await client.close()
    }

    private func manyStreams(_ recorder: inout FigureRecorder) async throws {
        let bytes = sizes.concurrentObjectBytes
        let expectedCRC = pattern.checksum(bytes: bytes)
        // Connections are opened before any clock starts: the figures are of transfers, not handshakes.
        let uploaders = try await Self.connected((0..<E2EWorkload.uploadStreams).map { _ in client() })
        let downloaders = try await Self.connected((0..<E2EWorkload.downloadStreams).map { _ in client() })
        for round in Round.plan(rounds: rounds) {
            let keys = uploaders.indices.map { "many/\(round.number)/\($0)" }
            let put = try await Self.concurrently(Array(zip(uploaders, keys))) { client, key in
                try await client.putObject(bucket: bucket, key: key, pattern: pattern, bytes: bytes)
            }
            recorder.record(specs.put50, megabytesPerSecond(bytes: bytes * keys.count, in: put), in: round)
            // Every object is downloaded by downloadStreams / uploadStreams streams at once.
            let crc: UInt32? = round.isWarmUp ? expectedCRC : nil
            let assignments = downloaders.indices.map { (downloaders[$0], keys[$0 % keys.count]) }
            let get = try await Self.concurrently(assignments) { client, key in
                try await download(client, key: key, bytes: bytes, crc: crc)
            }
            recorder.record(specs.get100, megabytesPerSecond(bytes: bytes * assignments.count, in: get), in: round)
            _ = try await Self.concurrently(Array(zip(uploaders, keys))) { client, key in
                try await client.deleteObject(bucket: bucket, key: key)
            }
        }
        for client in uploaders + downloaders { await client.close() }
    }

    /// One GET, checking the size and, when `crc` is given, the CRC32C of what arrived.
    private func download(_ client: S3Client, key: String, bytes: Int, crc: UInt32?) async throws {
        let received = try await client.getObject(bucket: bucket, key: key, checksum: crc != nil)
        guard received.bytes == bytes else {
            throw BenchError("GET \(bucket)/\(key): \(received.bytes) bytes arrived, \(bytes) were uploaded")
        }
        if let crc, received.crc32c != crc {
            throw BenchError("GET \(bucket)/\(key): the data differs from what was uploaded (CRC32C "
                             + "\(received.crc32c.map { String($0, radix: 16) } ?? "none") ≠ \(String(crc, radix: 16)))")
        }
    }

    // MARK: - Metadata

    private func metadata(_ recorder: inout FigureRecorder, control: S3Client) async throws {
        let headKeys = (0..<sizes.headObjects).map { String(format: "head/%06d", $0) }
        let listKeys = (0..<E2EWorkload.listKeys).map { String(format: "list/%06d", $0) }
        let clients = try await Self.connected((0..<E2EWorkload.metadataClients).map { _ in client() })
        Progress.line("e2e: writing \(headKeys.count + listKeys.count) small objects for the metadata figures")
        try await Self.spread(headKeys + listKeys, over: clients) { client, key in
            try await client.putObject(bucket: bucket, key: key, pattern: pattern, bytes: E2EWorkload.smallObjectBytes)
        }

        let headsPerClient = sizes.headsPerRound / clients.count
        let listsPerClient = sizes.listsPerRound / clients.count
        for round in Round.plan(rounds: rounds) {
            let heads = try await Self.latencies(clients, requestsPerClient: headsPerClient) { client, _ in
                let head = try await client.headObject(bucket: bucket, key: headKeys.randomElement()!)
                guard head.contentLength == E2EWorkload.smallObjectBytes else {
                    throw BenchError("HEAD: Content-Length \(head.contentLength), uploaded \(E2EWorkload.smallObjectBytes)")
                }
            }
            recorder.record(specs.headP99, Self.p99(heads), in: round)

            // Each client walks the prefix page by page, starting over at the end.
            let tokens = TokenBox(count: clients.count)
            let lists = try await Self.latencies(clients, requestsPerClient: listsPerClient) { client, index in
                let page = try await client.listObjectsV2(
                    bucket: bucket, prefix: "list/", maxKeys: E2EWorkload.listPageKeys,
                    continuationToken: tokens.take(index))
                guard !page.keys.isEmpty, page.keys.count <= E2EWorkload.listPageKeys else {
                    throw BenchError("ListObjectsV2: a page of \(page.keys.count) keys (max-keys \(E2EWorkload.listPageKeys))")
                }
                tokens.put(page.isTruncated ? page.nextContinuationToken : nil, at: index)
            }
            recorder.record(specs.listP99, Self.p99(lists), in: round)
        }
        if cleanUp {
            try await Self.spread(headKeys + listKeys, over: clients) { client, key in
                try await client.deleteObject(bucket: bucket, key: key)
            }
            try await control.deleteBucket(bucket)
        }
        for client in clients { await client.close() }
    }

    /// Runs `requestsPerClient` requests on every client at once; the latency of each, in milliseconds.
    private static func latencies(
        _ clients: [S3Client], requestsPerClient: Int,
        _ request: @escaping @Sendable (S3Client, Int) async throws -> Void
    ) async throws -> [Double] {
        try await withThrowingTaskGroup(of: [Double].self) { group in
            for (index, client) in clients.enumerated() {
                group.addTask {
                    let clock = ContinuousClock()
                    var milliseconds: [Double] = []
                    milliseconds.reserveCapacity(requestsPerClient)
                    for _ in 0..<requestsPerClient {
                        let start = clock.now
                        try await request(client, index)
                        milliseconds.append((clock.now - start).seconds * 1000)
                    }
                    return milliseconds
                }
            }
            return try await group.reduce(into: []) { $0 += $1 }
        }
    }

    static func p99(_ samples: [Double]) -> Double {
        let sorted = samples.sorted()
        return sorted[min(sorted.count - 1, sorted.count * 99 / 100)]
    }

    // MARK: - Helpers

    private static func timed(_ body: () async throws -> Void) async throws -> Duration {
        let clock = ContinuousClock()
        let start = clock.now
        try await body()
        return clock.now - start
    }

    /// Runs `body` for every item at once; the wall time until the last finished.
    private static func concurrently<Item: Sendable>(
        _ items: [Item], _ body: @escaping @Sendable (Item) async throws -> Void
    ) async throws -> Duration {
        try await timed {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for item in items { group.addTask { try await body(item) } }
                try await group.waitForAll()
            }
        }
    }

    /// `items` shared among `clients`, each client working through its share one request at a time.
    private static func spread(
        _ items: [String], over clients: [S3Client], _ body: @escaping @Sendable (S3Client, String) async throws -> Void
    ) async throws {
        _ = try await concurrently(Array(clients.enumerated())) { index, client in
            for item in stride(from: index, to: items.count, by: clients.count).map({ items[$0] }) {
                try await body(client, item)
            }
        }
    }

    private static func connected(_ clients: [S3Client]) async throws -> [S3Client] {
        _ = try await concurrently(clients) { try await $0.connect() }
        return clients
    }
}

/// The continuation token each listing client resumes from: one slot per client, so no two share one.
private final class TokenBox: Sendable {
    private let tokens: Mutex<[String?]>

    init(count: Int) { tokens = Mutex(Array(repeating: nil, count: count)) }

    func take(_ index: Int) -> String? { tokens.withLock { $0[index] } }
    func put(_ token: String?, at index: Int) { tokens.withLock { $0[index] = token } }
}
