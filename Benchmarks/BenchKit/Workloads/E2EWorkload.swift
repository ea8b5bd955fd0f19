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

/// End to end through the S3 API, signed with SigV4, against throwaway six-node clusters at R=1 and R=2
/// (and any other S3 endpoint `--target` or `--compare` names):
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
struct E2EWorkload: S3Workload {
    static let name = "e2e"

    static let uploadStreams = 50
    static let downloadStreams = 100
    static let metadataClients = 4
    static let listKeys = 300
    static let listPageKeys = 100
    static let smallObjectBytes = 1024

    static func siloReplicas(default replicas: Int) -> [Int] { [1, 2] }

    /// The sizes of one run.
    struct Sizes {
        var oneStreamBytes: Int
        var concurrentObjectBytes: Int
        var headObjects: Int
        var headsPerRound: Int
        var listsPerRound: Int

        static let full = Sizes(oneStreamBytes: 1 << 30, concurrentObjectBytes: 10 << 20, headObjects: 2000,
                                headsPerRound: 4000, listsPerRound: 600)
        static let quick = Sizes(oneStreamBytes: 256 << 20, concurrentObjectBytes: 2 << 20, headObjects: 200,
                                 headsPerRound: 800, listsPerRound: 100)
        static let smoke = Sizes(oneStreamBytes: 4 << 20, concurrentObjectBytes: 64 << 10, headObjects: 20,
                                 headsPerRound: 40, listsPerRound: 8)

        static func of(_ scale: RunScale) -> Sizes {
            switch scale {
            case .full: full
            case .quick: quick
            case .smoke: smoke
            }
        }
    }

    /// The six figures as measured on `system`. The throughput goals are stated for R=1; at R=2
    /// every uploaded byte goes to two nodes, so those figures carry the target only.
    struct Specs {
        let put1, get1, put50, get100, headP99, listP99: FigureSpec

        init(_ system: S3System, sizes: Sizes) {
            let goals = system.replicas == nil || system.replicas == 1
            // Gated: GET of one stream at R=1, the steadiest e2e figure in repeated runs (README, "The bench
            // gate"); the put and many-stream figures moved by 50–350 % between runs on a loaded VM.
            let gateGet = system.replicas == 1
            func spec(_ name: String, _ unit: FigureUnit, target: Double?, goal: Double?, _ better: Better,
                      _ limits: [CalibrationFigure], bytes: Int?, concurrency: Int, gated: Bool = false) -> FigureSpec {
                FigureSpec(name: name, unit: unit, target: target, goal: goal, better: better, limitedBy: limits,
                           gated: gated)
                    .on(system).sized(objectBytes: bytes, concurrency: concurrency)
            }
            let many = sizes.concurrentObjectBytes
            put1 = spec("e2e.put.1stream", .megabytesPerSecond, target: 100, goal: goals ? 500 : nil, .higher,
                        [.loopbackTCP, .diskWrite], bytes: sizes.oneStreamBytes, concurrency: 1)
            get1 = spec("e2e.get.1stream", .megabytesPerSecond, target: 100, goal: goals ? 1000 : nil, .higher,
                        [.loopbackTCP, .diskRead], bytes: sizes.oneStreamBytes, concurrency: 1, gated: gateGet)
            put50 = spec("e2e.put.\(uploadStreams)streams", .megabytesPerSecond, target: nil, goal: nil, .higher,
                         [.loopbackTCP, .diskWrite], bytes: many, concurrency: uploadStreams)
            get100 = spec("e2e.get.\(downloadStreams)streams", .megabytesPerSecond, target: nil, goal: nil,
                          .higher, [.loopbackTCP, .diskRead], bytes: many, concurrency: downloadStreams)
            headP99 = spec("metadata.head.p99_ms", .milliseconds, target: 50, goal: 5, .lower, [],
                           bytes: smallObjectBytes, concurrency: metadataClients)
            listP99 = spec("metadata.list.p99_ms", .milliseconds, target: 50, goal: 5, .lower, [],
                           bytes: smallObjectBytes, concurrency: metadataClients)
        }

        var all: [FigureSpec] { [put1, get1, put50, get100, headP99, listP99] }
    }

    init() {}

    func run(_ context: WorkloadContext, systems: [S3System]) async throws -> [MeasuredFigure] {
        let run = E2ERun(sizes: Sizes.of(context.scale), rounds: context.rounds, pattern: BodyPattern(),
                         recorder: FigureRecorder())
        let bucket = "bench-e2e-\(getpid())"
        for system in systems { try await S3Load.withClient(system) { try await $0.createBucket(bucket) } }
        try await run.oneStream(systems, bucket: bucket)
        try await run.manyStreams(systems, bucket: bucket)
        try await run.metadata(systems, bucket: bucket)
        // A Silo cluster is thrown away whole; a peer is left as it was found.
        for system in systems where !system.isSilo {
            try await S3Load.withClient(system) { try await $0.deleteBucket(bucket) }
        }
        return systems.flatMap { run.recorder.figures(Specs($0, sizes: run.sizes).all) }
    }
}

/// The phases of the e2e workload, each interleaved across the systems measured.
struct E2ERun: Sendable {
    let sizes: E2EWorkload.Sizes
    let rounds: Int
    let pattern: BodyPattern
    let recorder: FigureRecorder

    // MARK: - Throughput

    func oneStream(_ systems: [S3System], bucket: String) async throws {
        let bytes = sizes.oneStreamBytes
        let expectedCRC = pattern.checksum(bytes: bytes)
        try await S3Systems.interleaved(
            "e2e one stream", systems: systems, rounds: rounds,
            setUp: { system in try await S3Load.connected(system, count: 1)[0] },
            round: { system, client, round in
                let specs = E2EWorkload.Specs(system, sizes: sizes)
                let key = "one/\(round.number)"
                let put = try await S3Load.timed {
                    try await client.putObject(bucket: bucket, key: key, pattern: pattern, bytes: bytes)
                }
                recorder.record(specs.put1, megabytesPerSecond(bytes: bytes, in: put), in: round)
                let get = try await S3Load.timed {
                    try await Self.download(client, bucket: bucket, key: key, bytes: bytes,
                                            crc: round.isWarmUp ? expectedCRC : nil)
                }
                recorder.record(specs.get1, megabytesPerSecond(bytes: bytes, in: get), in: round)
                try await client.deleteObject(bucket: bucket, key: key)
            },
            tearDown: { _, client in await client.close() })
    }

    func manyStreams(_ systems: [S3System], bucket: String) async throws {
        let bytes = sizes.concurrentObjectBytes
        let expectedCRC = pattern.checksum(bytes: bytes)
        // Connections are opened before any clock starts: the figures are of transfers, not handshakes.
        try await S3Systems.interleaved(
            "e2e \(E2EWorkload.uploadStreams)/\(E2EWorkload.downloadStreams) streams", systems: systems, rounds: rounds,
            setUp: { system in
                (try await S3Load.connected(system, count: E2EWorkload.uploadStreams),
                 try await S3Load.connected(system, count: E2EWorkload.downloadStreams))
            },
            round: { system, clients, round in
                let (uploaders, downloaders) = clients
                let specs = E2EWorkload.Specs(system, sizes: sizes)
                let keys = uploaders.indices.map { "many/\(round.number)/\($0)" }
                let put = try await S3Load.concurrently(Array(zip(uploaders, keys))) { client, key in
                    try await client.putObject(bucket: bucket, key: key, pattern: pattern, bytes: bytes)
                }
                recorder.record(specs.put50, megabytesPerSecond(bytes: bytes * keys.count, in: put), in: round)
                // Every object is downloaded by downloadStreams / uploadStreams streams at once.
                let crc: UInt32? = round.isWarmUp ? expectedCRC : nil
                let assignments = downloaders.indices.map { (downloaders[$0], keys[$0 % keys.count]) }
                let get = try await S3Load.concurrently(assignments) { client, key in
                    try await Self.download(client, bucket: bucket, key: key, bytes: bytes, crc: crc)
                }
                recorder.record(specs.get100, megabytesPerSecond(bytes: bytes * assignments.count, in: get),
                                in: round)
                _ = try await S3Load.concurrently(Array(zip(uploaders, keys))) { client, key in
                    try await client.deleteObject(bucket: bucket, key: key)
                }
            },
            tearDown: { _, clients in await S3Load.close(clients.0 + clients.1) })
    }

    /// One GET, checking the size and, when `crc` is given, the CRC32C of what arrived.
    static func download(_ client: S3Client, bucket: String, key: String, bytes: Int, crc: UInt32?) async throws {
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

    func metadata(_ systems: [S3System], bucket: String) async throws {
        let headKeys = (0..<sizes.headObjects).map { String(format: "head/%06d", $0) }
        let listKeys = (0..<E2EWorkload.listKeys).map { String(format: "list/%06d", $0) }
        let objectBytes = E2EWorkload.smallObjectBytes
        let headsPerClient = sizes.headsPerRound / E2EWorkload.metadataClients
        let listsPerClient = sizes.listsPerRound / E2EWorkload.metadataClients
        try await S3Systems.interleaved(
            "e2e metadata", systems: systems, rounds: rounds,
            setUp: { system in
                let clients = try await S3Load.connected(system, count: E2EWorkload.metadataClients)
                Progress.line("e2e: writing \(headKeys.count + listKeys.count) small objects to "
                              + "\(system.description) for the metadata figures")
                try await S3Load.spread(headKeys + listKeys, over: clients) { client, key in
                    try await client.putObject(bucket: bucket, key: key, pattern: pattern, bytes: objectBytes)
                }
                return clients
            },
            round: { system, clients, round in
                let specs = E2EWorkload.Specs(system, sizes: sizes)
                let heads = try await S3Load.spread(Array(0..<headsPerClient * clients.count), over: clients) { client, _ in
                    let head = try await client.headObject(bucket: bucket, key: headKeys.randomElement()!)
                    guard head.contentLength == objectBytes else {
                        throw BenchError("HEAD: Content-Length \(head.contentLength), uploaded \(objectBytes)")
                    }
                }
                recorder.record(specs.headP99, Statistics.percentile(heads.milliseconds, 0.99), in: round)

                // Each client walks the prefix page by page, starting over at the end.
                let tokens = TokenBox(count: clients.count)
                let lists = try await S3Load.spread(Array(0..<listsPerClient * clients.count), over: clients) { client, item in
                    let index = item % clients.count
                    let page = try await client.listObjectsV2(
                        bucket: bucket, prefix: "list/", maxKeys: E2EWorkload.listPageKeys,
                        continuationToken: tokens.take(index))
                    guard !page.keys.isEmpty, page.keys.count <= E2EWorkload.listPageKeys else {
                        throw BenchError("ListObjectsV2: a page of \(page.keys.count) keys (max-keys \(E2EWorkload.listPageKeys))")
                    }
                    tokens.put(page.isTruncated ? page.nextContinuationToken : nil, at: index)
                }
                recorder.record(specs.listP99, Statistics.percentile(lists.milliseconds, 0.99), in: round)
            },
            tearDown: { system, clients in
                if !system.isSilo {
                    try await S3Load.spread(headKeys + listKeys, over: clients) { client, key in
                        try await client.deleteObject(bucket: bucket, key: key)
                    }
                }
                await S3Load.close(clients)
            })
    }
}

/// The continuation token each listing client resumes from: one slot per client, so no two share one.
private final class TokenBox: Sendable {
    private let tokens: Mutex<[String?]>

    init(count: Int) { tokens = Mutex(Array(repeating: nil, count: count)) }

    func take(_ index: Int) -> String? { tokens.withLock { $0[index] } }
    func put(_ token: String?, at index: Int) { tokens.withLock { $0[index] = token } }
}
