import Crypto
import Foundation
import NIOCore
import SiloCore
import SiloMetadata
import SiloTestSupport
import Synchronization

@testable import SiloGateway
@testable import SiloS3

/// A gateway's data path over real parts, in one process: a fresh schema in the run's PostgreSQL, storage
/// nodes serving real chunk stores over HTTP/2 on loopback, the node table listing them, and the gateway's
/// node directory, pipelines and garbage collector over them.
package struct PipelineCluster {
    let store: MetadataStore
    let nodes: [StorageNodeFixture]
    let directory: NodeDirectory
    let limits: GatewayLimits
    let bucket: BucketName

    var uploads: UploadPipeline { UploadPipeline(store: store, nodes: directory, limits: limits, logger: quietLogger) }
    var downloads: DownloadPipeline {
        DownloadPipeline(nodes: directory, limits: limits, logger: quietLogger, store: store)
    }
    var collector: GarbageCollector {
        GarbageCollector(store: store, nodes: directory, limits: limits, logger: quietLogger)
    }

    /// A repair worker of this cluster (a new holder each time).
    var repair: RepairWorker { RepairWorker(store: store, nodes: directory, limits: limits, logger: quietLogger) }

    /// Small chunks, so a few MiB make dozens of them; quick probes and short GC leases, so failures show
    /// within a test's time.
    static let testLimits: GatewayLimits = {
        var limits = GatewayLimits()
        limits.chunkBytes = 64 << 10
        limits.putChunkMessageBytes = 64 << 10
        limits.replicaCount = 2
        limits.uploadChunksInFlightMax = 3
        limits.nodeMissedProbesMax = 2
        limits.nodeProbeInterval = .milliseconds(50)
        // Generous: with every test of the run on two cores at once, a healthy node can take a while to
        // answer, and a missed probe it did not deserve would skew the counts the tests check. A stopped
        // node's probe fails at once (connection refused) whatever this is.
        limits.nodeProbeTimeout = .seconds(2)
        // Long enough that a healthy node always makes progress within it, with every test of the run on two
        // loaded cores (3 s was not: an fsync queued behind other tests' writes); FrozenNodeTests use less.
        limits.nodeStallTimeout = .seconds(15)
        limits.garbageBatchMax = 16
        limits.garbageLease = .milliseconds(200)
        // No grace: GC may take retired chunks at once (the grace itself is tested on its own).
        limits.garbageGrace = .zero
        limits.repairBytesPerSecond = 0
        return limits
    }()

    /// Runs `body` against a cluster of `nodeCount` nodes, all up and probed; tears everything down after,
    /// whether `body` threw or not.
    /// `capacities` gives nodes a `--capacity-bytes` of their own, by position (missing or 0: the disk).
    static func with<T>(nodeCount: Int = 3, limits: GatewayLimits = testLimits, capacities: [Int64] = [],
                        _ body: (PipelineCluster) async throws -> T) async throws -> T {
        try limits.validate()
        let store = try await TestDatabase.openStore()
        var nodes: [StorageNodeFixture] = []
        var directory: NodeDirectory?
        do {
            for index in 1...nodeCount {
                let capacity = index <= capacities.count ? capacities[index - 1] : 0
                nodes.append(try await StorageNodeFixture.start("node\(index)", capacityBytes: capacity))
            }
            for node in nodes {
                try await store.registerNode(NodeRecord(id: node.id, address: node.address,
                                                        capacity: ByteCount(1 << 30), free: ByteCount(1 << 30)))
            }
            let bucket = try BucketName("pipeline-test")
            try await store.createBucket(bucket)
            let nodeDirectory = NodeDirectory(store: store, limits: limits, storageLimits: StorageNodeFixture.limits,
                                              logger: quietLogger)
            directory = nodeDirectory
            await nodeDirectory.refresh()
            // Every test starts from nodes that all answered their last probe.
            let deadline = ContinuousClock.now + .seconds(10)
            repeat {
                await nodeDirectory.probeAll()
            } while nodeDirectory.members.contains(where: { $0.missedProbes > 0 || $0.lastProbe == nil })
                && ContinuousClock.now < deadline
            guard nodeDirectory.upCount == nodeCount,
                  nodeDirectory.members.allSatisfy({ $0.missedProbes == 0 && $0.lastProbe != nil }) else {
                throw TestFixtureError("\(nodeDirectory.upCount) of \(nodeCount) nodes are up after the first probes")
            }
            let cluster = PipelineCluster(store: store, nodes: nodes, directory: nodeDirectory, limits: limits,
                                          bucket: bucket)
            let value = try await body(cluster)
            await tearDown(store: store, nodes: nodes, directory: directory)
            return value
        } catch {
            await tearDown(store: store, nodes: nodes, directory: directory)
            throw error
        }
    }

    private static func tearDown(store: MetadataStore, nodes: [StorageNodeFixture], directory: NodeDirectory?) async {
        directory?.shutdown()
        for node in nodes { await node.close() }
        await TestDatabase.dropAndClose(store)
    }

    func node(_ id: NodeID) -> StorageNodeFixture { nodes.first { $0.id == id }! }

    // MARK: - Moving objects

    /// Uploads `data` as `key`, in pieces of `pieceSizes` (cycled), with or without its length declared.
    @discardableResult
    func upload(_ data: [UInt8], key: String, knownLength: Bool = true, pieceSizes: [Int] = oddPieceSizes,
                configure: (inout UploadRequest) -> Void = { _ in }) async throws -> UploadedObject {
        var request = UploadRequest(bucket: bucket, key: try ObjectKey(key))
        request.contentLength = knownLength ? Int64(data.count) : nil
        configure(&request)
        return try await uploads.upload(request, body: BufferSequence(data, pieceSizes: pieceSizes))
    }

    func object(_ key: String) async throws -> ObjectRecord? {
        try await store.object(bucket: bucket, key: try ObjectKey(key))
    }

    /// Downloads `range` (the whole object when nil) through the download pipeline.
    func download(_ object: ObjectRecord, range: ByteRange? = nil) async throws -> [UInt8] {
        let range = range ?? ByteRange(offset: .zero, length: object.attributes.size)
        let started = try await downloads.start(object, range: range)
        var received: [UInt8] = []
        received.reserveCapacity(Int(range.length.bytes))
        try await started.forEach { piece in received.append(contentsOf: piece.readableBytesView) }
        return received
    }

    /// Every chunk file on every node, by node.
    var chunkFilesByNode: [NodeID: Set<String>] {
        Dictionary(uniqueKeysWithValues: nodes.map { ($0.id, $0.chunkFileNames) })
    }

    /// Runs GC rounds until the queue is empty (waiting out the grace and any leases) or `limit` passed.
    func collectUntilEmpty(within limit: Duration = .seconds(15)) async throws {
        let deadline = ContinuousClock.now + limit
        while ContinuousClock.now < deadline {
            try await collector.collectOnce()
            if try await store.garbageCount() == 0 { return }
            try await Task.sleep(for: .milliseconds(50))
        }
    }
}

/// Piece sizes that straddle 64 KiB chunk boundaries in every way: 1 byte, a prime, a chunk less one,
/// a chunk plus one, two chunks and a bit.
package let oddPieceSizes = [1, 7919, 65_535, 65_537, 3, 131_101, 4_093, 40_000]

/// Bytes from a seeded generator: the same on every run.
package func seededBytes(_ count: Int, seed: UInt64) -> [UInt8] {
    var generator = SeededGenerator(seed: seed)
    var bytes = [UInt8](repeating: 0, count: count)
    var index = 0
    while index < count {
        var word = generator.next()
        for _ in 0..<8 where index < count {
            bytes[index] = UInt8(truncatingIfNeeded: word)
            word >>= 8
            index += 1
        }
    }
    return bytes
}

/// A request body: `data` cut into `ByteBuffer`s of the given sizes, cycled, as a socket might deliver it.
package struct BufferSequence: AsyncSequence, Sendable {
    package typealias Element = ByteBuffer
    let buffers: [ByteBuffer]

    init(_ data: [UInt8], pieceSizes: [Int]) {
        var buffers: [ByteBuffer] = []
        var start = 0
        var sizes = pieceSizes.makeIterator()
        while start < data.count {
            if let size = sizes.next() {
                let end = Swift.min(data.count, start + Swift.max(1, size))
                buffers.append(ByteBuffer(bytes: data[start..<end]))
                start = end
            } else {
                sizes = pieceSizes.makeIterator()
            }
        }
        self.buffers = buffers
    }

    init(buffers: [ByteBuffer]) { self.buffers = buffers }

    package struct AsyncIterator: AsyncIteratorProtocol {
        var remaining: IndexingIterator<[ByteBuffer]>
        package mutating func next() async throws -> ByteBuffer? { remaining.next() }
    }

    package func makeAsyncIterator() -> AsyncIterator { AsyncIterator(remaining: buffers.makeIterator()) }
}

/// A body that delivers its buffers, then fails as a client that disconnects would.
package struct FailingBody: AsyncSequence, Sendable {
    package typealias Element = ByteBuffer
    struct Disconnected: Error {}
    let buffers: [ByteBuffer]

    package struct AsyncIterator: AsyncIteratorProtocol {
        var remaining: IndexingIterator<[ByteBuffer]>
        package mutating func next() async throws -> ByteBuffer? {
            guard let buffer = remaining.next() else { throw Disconnected() }
            return buffer
        }
    }

    package func makeAsyncIterator() -> AsyncIterator { AsyncIterator(remaining: buffers.makeIterator()) }
}

/// Runs `body` for at most `limit`: its result, or nil when it had not finished by then (it is cancelled
/// and left behind, so a call that ignores cancellation cannot hang the test).
package func outcome<T: Sendable>(within limit: Duration, _ body: @escaping @Sendable () async throws -> T) async
    -> Result<T, any Error>?
{
    let waiting = FirstOutcome<T>()
    return await withCheckedContinuation { continuation in
        waiting.wait(continuation)
        let work = Task {
            let result: Result<T, any Error>
            do { result = .success(try await body()) } catch { result = .failure(error) }
            waiting.resume(with: result)
        }
        Task {
            try? await Task.sleep(for: limit)
            if waiting.resume(with: nil) { work.cancel() }
        }
    }
}

/// The continuation of `outcome`, resumed once by whichever comes first.
private final class FirstOutcome<T: Sendable>: Sendable {
    private let continuation = Mutex<CheckedContinuation<Result<T, any Error>?, Never>?>(nil)

    func wait(_ continuation: CheckedContinuation<Result<T, any Error>?, Never>) {
        self.continuation.withLock { $0 = continuation }
    }

    @discardableResult
    func resume(with result: Result<T, any Error>?) -> Bool {
        guard let continuation = continuation.withLock({ $0.take() }) else { return false }
        continuation.resume(returning: result)
        return true
    }
}

/// The ETag S3 gives a single-part object: the body's MD5 in lowercase hex.
package func md5Hex(_ data: [UInt8]) -> String {
    Insecure.MD5.hash(data: data).map { String(format: "%02x", $0) }.joined()
}
