import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// 4 KiB objects, where a store's per-request cost shows rather than its bandwidth: PUT, then GET, then HEAD
/// of the same objects from 16 and from 64 clients, each client one keep-alive connection working through
/// its share one request at a time.
///
/// - `small.<op>.c<clients>.ops`: objects per second, all clients together, first request to last response;
/// - `small.<op>.c<clients>.p50_ms` / `p90_ms` / `p99_ms`: the latency of one request, as a client sees it;
/// - `small.get.c<clients>.ttfb_p50_ms` / `ttfb_p99_ms`: GET's time to first byte (the response head).
///
/// No calibration figure bounds a request rate, so these carry no limit and are not gated. Every round
/// writes fresh keys; a peer's are deleted afterwards, a Silo cluster is thrown away whole.
struct SmallObjectWorkload: S3Workload {
    static let name = "small"
    static let objectBytes = 4 << 10
    static let clientCounts = [16, 64]

    static func siloReplicas(default replicas: Int) -> [Int] { [replicas] }

    /// Objects written, read and headed per round, for each client count.
    static func objectsPerRound(_ scale: RunScale) -> Int {
        switch scale {
        case .full: 4000
        // Silo's small PUTs run at a few hundred a second on two cores: this keeps the quick run in budget.
        case .quick: 256
        case .smoke: 128
        }
    }

    enum Operation: String, CaseIterable {
        case put, get, head
    }

    /// The figures of one operation at one client count on one system.
    struct Specs {
        let rate, p50, p90, p99: FigureSpec
        let ttfbP50, ttfbP99: FigureSpec?

        init(_ operation: Operation, clients: Int, on system: S3System) {
            let prefix = "small.\(operation.rawValue).c\(clients)."
            func spec(_ suffix: String, _ unit: FigureUnit, _ better: Better) -> FigureSpec {
                FigureSpec(name: prefix + suffix, unit: unit, target: nil, goal: nil, better: better, limitedBy: [])
                    .on(system).sized(objectBytes: SmallObjectWorkload.objectBytes, concurrency: clients)
            }
            rate = spec("ops", .operationsPerSecond, .higher)
            p50 = spec("p50_ms", .milliseconds, .lower)
            p90 = spec("p90_ms", .milliseconds, .lower)
            p99 = spec("p99_ms", .milliseconds, .lower)
            ttfbP50 = operation == .get ? spec("ttfb_p50_ms", .milliseconds, .lower) : nil
            ttfbP99 = operation == .get ? spec("ttfb_p99_ms", .milliseconds, .lower) : nil
        }

        var all: [FigureSpec] { [rate, p50, p90, p99] + [ttfbP50, ttfbP99].compactMap { $0 } }
    }

    init() {}

    func run(_ context: WorkloadContext, systems: [S3System]) async throws -> [MeasuredFigure] {
        let recorder = FigureRecorder()
        let pattern = BodyPattern()
        let bucket = "bench-small-\(getpid())"
        let count = Self.objectsPerRound(context.scale)
        for system in systems { try await S3Load.withClient(system) { try await $0.createBucket(bucket) } }
        for clients in Self.clientCounts {
            try await S3Systems.interleaved(
                "small 4 KiB × \(clients) clients", systems: systems, rounds: context.rounds,
                setUp: { system in try await S3Load.connected(system, count: clients) },
                round: { system, connections, round in
                    let keys = (0..<count).map { "c\(clients)/r\(round.number)/\($0)" }
                    try await Self.round(keys, connections: connections, bucket: bucket, pattern: pattern,
                                         system: system, round: round, recorder: recorder)
                },
                tearDown: { system, connections in
                    if !system.isSilo {
                        let keys = Round.plan(rounds: context.rounds).flatMap { round in
                            (0..<count).map { "c\(clients)/r\(round.number)/\($0)" }
                        }
                        try await S3Load.spread(keys, over: connections) { client, key in
                            try await client.deleteObject(bucket: bucket, key: key)
                        }
                    }
                    await S3Load.close(connections)
                })
        }
        for system in systems where !system.isSilo {
            try await S3Load.withClient(system) { try await $0.deleteBucket(bucket) }
        }
        return systems.flatMap { system in
            Self.clientCounts.flatMap { clients in
                Operation.allCases.flatMap { recorder.figures(Specs($0, clients: clients, on: system).all) }
            }
        }
    }

    private static func round(
        _ keys: [String], connections: [S3Client], bucket: String, pattern: BodyPattern, system: S3System,
        round: Round, recorder: FigureRecorder
    ) async throws {
        let clients = connections.count
        func record(_ operation: Operation, _ result: (milliseconds: [Double], wall: Duration)) {
            let specs = Specs(operation, clients: clients, on: system)
            recorder.record(specs.rate, Double(keys.count) / result.wall.seconds, in: round)
            recorder.record(specs.p50, Statistics.percentile(result.milliseconds, 0.50), in: round)
            recorder.record(specs.p90, Statistics.percentile(result.milliseconds, 0.90), in: round)
            recorder.record(specs.p99, Statistics.percentile(result.milliseconds, 0.99), in: round)
        }

        record(.put, try await S3Load.spread(keys, over: connections) { client, key in
            try await client.putObject(bucket: bucket, key: key, pattern: pattern, bytes: objectBytes)
        })

        let firstBytes = SampleBox()
        let expectedCRC: UInt32? = round.isWarmUp ? pattern.checksum(bytes: objectBytes) : nil
        record(.get, try await S3Load.spread(keys, over: connections) { client, key in
            let received = try await client.getObject(bucket: bucket, key: key, checksum: expectedCRC != nil)
            guard received.bytes == objectBytes, expectedCRC == nil || received.crc32c == expectedCRC else {
                throw BenchError("GET \(bucket)/\(key): \(received.bytes) bytes, not the \(objectBytes) uploaded")
            }
            firstBytes.append(received.timeToFirstByte.seconds * 1000)
        })
        let getSpecs = Specs(.get, clients: clients, on: system)
        let ttfb = firstBytes.values
        recorder.record(getSpecs.ttfbP50!, Statistics.percentile(ttfb, 0.50), in: round)
        recorder.record(getSpecs.ttfbP99!, Statistics.percentile(ttfb, 0.99), in: round)

        record(.head, try await S3Load.spread(keys, over: connections) { client, key in
            let head = try await client.headObject(bucket: bucket, key: key)
            guard head.contentLength == objectBytes else {
                throw BenchError("HEAD \(bucket)/\(key): Content-Length \(head.contentLength), uploaded \(objectBytes)")
            }
        })
    }
}

/// Samples appended from many tasks at once (a few thousand a second: a lock is no cost here).
final class SampleBox: Sendable {
    private let samples = Mutex<[Double]>([])

    func append(_ value: Double) { samples.withLock { $0.append(value) } }
    var values: [Double] { samples.withLock { $0 } }
}
