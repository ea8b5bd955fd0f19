import SiloS3
import Crypto
import Foundation
import Synchronization
import GRPCCore
import Logging
import NIOCore
import SiloCore
import SiloMetadata
import SiloStorage

/// What an upload is, before its body: where it goes and what the client said about it.
package struct UploadRequest: Sendable {
    package var bucket: BucketName
    package var key: ObjectKey
    /// nil: the body's length is not known in advance (chunked transfer encoding).
    package var contentLength: Int64?
    package var contentType: String?
    package var userMetadata: [String: String] = [:]
    /// The SHA-256 the client signed (`x-amz-content-sha256` with a hex digest), checked after the last byte.
    package var expectedSHA256: [UInt8]?
    /// `Content-MD5`, checked after the last byte (`BadDigest`).
    package var expectedMD5: [UInt8]?
    /// The `x-amz-checksum-*` algorithm to compute on the way and store with the object.
    package var checksumAlgorithm: ChecksumAlgorithm?
    /// The checksum the client expects (base64), asked after the last byte: a trailer's value is known only
    /// then. Mismatch is `BadDigest`.
    package var expectedChecksum: (@Sendable () throws -> String?)?
    /// What the commit makes of the body: an object (by default, unconditionally) or a multipart part.
    package var destination: UploadDestination = .object(.none)

    package init(bucket: BucketName, key: ObjectKey) {
        self.bucket = bucket
        self.key = key
    }
}

/// A committed upload.
package struct UploadedObject: Sendable {
    package var etag: String
    package var size: Int64
    /// nil for a multipart part, which is no version of its own.
    package var versionID: VersionID?
    /// The `x-amz-checksum-*` value (base64) of `UploadRequest.checksumAlgorithm`, when one was asked for.
    package var checksum: String?
}

/// Streams an object into the cluster: the body is cut into chunks, each chunk streams to its replicas
/// at once, and one transaction makes the object visible. DESIGN.md, "Upload path".
///
/// Copies of each body byte, after the kernel's: (1) into the PutChunk message of each replica (the
/// serializer gathers the body's buffers), (2) the HTTP/2 framer's, to the socket. MD5 (the ETag), the
/// chunk's CRC32C and, for signed payloads, SHA-256 read each byte once, on the way, from the request
/// buffer itself; the hashes on a task of their own, so they overlap the forwarding.
///
/// Nothing is visible until the commit; whatever fails before it leaves a pending record whose chunks
/// go to the GC queue (at once here, or by the janitor if this gateway dies).
package struct UploadPipeline: Sendable {
    let store: MetadataStore
    let nodes: NodeDirectory
    let limits: GatewayLimits
    let logger: Logger
    let metrics: GatewayMetrics?
    /// Uploads of this pipeline streaming now, held under `limits.uploadsInFlightMax`.
    let inFlight = UploadAdmission()

    package init(store: MetadataStore, nodes: NodeDirectory, limits: GatewayLimits, logger: Logger,
                metrics: GatewayMetrics? = nil) {
        self.store = store
        self.nodes = nodes
        self.limits = limits
        self.logger = logger
        self.metrics = metrics
    }

    /// Stores `body` as `request` says. `beforeBody` runs once everything that can be checked without the
    /// body was (size limit, bucket): the place to answer `Expect: 100-continue`.
    package func upload<Body: AsyncSequence>(_ request: UploadRequest, body: Body,
                                            beforeBody: @Sendable () -> Void = {}) async throws -> UploadedObject
    where Body.Element == ByteBuffer {
        if let length = request.contentLength, length > limits.objectBytesMax {
            throw GatewayError.objectTooLarge(declaredBytes: length, limitBytes: limits.objectBytesMax)
        }
        guard inFlight.enter(max: limits.uploadsInFlightMax) else {
            throw GatewayError.tooManyUploads(limit: limits.uploadsInFlightMax)
        }
        defer { inFlight.leave() }
        let pending = try await store.beginUpload(bucket: request.bucket, key: request.key)
        beforeBody()
        do {
            let streamed = try await stream(request, body: body, pending: pending)
            var checksums: [String: String] = [:]
            if let algorithm = request.checksumAlgorithm, let value = streamed.checksum {
                checksums[algorithm.rawValue.lowercased()] = value
            }
            let attributes = ObjectAttributes(
                size: ByteCount(streamed.size), etag: streamed.etag, contentType: request.contentType,
                checksums: checksums, userMetadata: request.userMetadata)
            let version = try await commit(request, pending: pending, attributes: attributes,
                                           chunkCRC32Cs: streamed.chunkCRCs)
            return UploadedObject(etag: streamed.etag, size: streamed.size, versionID: version,
                                  checksum: streamed.checksum)
        } catch {
            // The chunks placed so far go to the GC queue; if even that fails, the janitor will.
            do { try await store.abandonUpload(pending) } catch let abandonError {
                logger.warning("cannot abandon upload; the janitor will", metadata: [
                    "upload": "\(pending)", "error": "\(abandonError)"])
            }
            throw error
        }
    }

    struct Streamed {
        var size: Int64
        var etag: String
        var chunkCRCs: [UInt32]
        var checksum: String?
    }

    private func stream<Body: AsyncSequence>(
        _ request: UploadRequest, body: Body, pending: PendingUploadID
    ) async throws -> Streamed where Body.Element == ByteBuffer {
        // MD5 (and SHA-256) run on a task of their own, fed the same buffers (no copy): inline, MD5 alone was
        // 43% of the gateway's CPU on a 1 GiB PUT and every byte paid it in series with forwarding.
        let hashing = BoundedFeed<ByteBuffer>(capacity: limits.hashQueueBuffersMax)
        let wantsSHA256 = request.expectedSHA256 != nil
        let checksumAlgorithm = request.checksumAlgorithm
        let hasher = Task { () throws -> (md5: [UInt8], sha256: [UInt8]?, checksum: String?) in
            var md5 = Insecure.MD5()
            var sha256 = wantsSHA256 ? SHA256() : nil
            var checksum = checksumAlgorithm.map { ChecksumComputer($0) }
            for try await buffer in hashing {
                buffer.withUnsafeReadableBytes { bytes in
                    md5.update(bufferPointer: bytes)
                    sha256?.update(bufferPointer: bytes)
                    checksum?.update(bytes)
                }
            }
            return (Array(md5.finalize()), sha256.map { Array($0.finalize()) }, checksum?.base64Digest)
        }
        defer {
            // Stops the hasher when the upload fails; after a finished stream it is a no-op.
            hashing.fail(CancellationError())
            hasher.cancel()
        }
        var total: Int64 = 0
        var chunkCRCs: [UInt32] = []

        try await withThrowingTaskGroup(of: ReplicatedChunk.self) { group in
            var placer = ChunkPlacer(pipeline: self, pending: pending)
            var current: OpenChunk? = nil
            // Without a length, a chunk's bytes are gathered before it opens: PutChunk declares its size first.
            var gathered: [ByteBuffer] = []
            var gatheredBytes: Int64 = 0

            for try await var buffer in body {
                let count = Int64(buffer.readableBytes)
                guard count > 0 else { continue }
                if total + count > limits.objectBytesMax {
                    throw GatewayError.objectTooLarge(declaredBytes: nil, limitBytes: limits.objectBytesMax)
                }
                if let length = request.contentLength, total + count > length {
                    throw GatewayError.bodyLongerThanDeclared(declaredBytes: length)
                }
                try await hashing.send(buffer)
                total += count

                if let length = request.contentLength {
                    // Known length: bytes go out as they come, cut at chunk boundaries.
                    while buffer.readableBytes > 0 {
                        if current == nil {
                            let size = min(limits.chunkBytes, length - placer.nextOffset)
                            current = try await placer.open(size: size, in: &group, collect: &chunkCRCs)
                        }
                        let take = min(buffer.readableBytes, Int(current!.remaining))
                        try await current!.append(buffer.readSlice(length: take)!)
                        if current!.remaining == 0 {
                            placer.finished(current!.index, crc: try await current!.finish())
                            current = nil
                        }
                    }
                } else {
                    while buffer.readableBytes > 0 {
                        let take = min(buffer.readableBytes, Int(limits.chunkBytes - gatheredBytes))
                        gathered.append(buffer.readSlice(length: take)!)
                        gatheredBytes += Int64(take)
                        if gatheredBytes == limits.chunkBytes {
                            var chunk = try await placer.open(size: gatheredBytes, in: &group, collect: &chunkCRCs)
                            for piece in gathered { try await chunk.append(piece) }
                            placer.finished(chunk.index, crc: try await chunk.finish())
                            gathered = []
                            gatheredBytes = 0
                        }
                    }
                }
            }
            if gatheredBytes > 0 {
                var chunk = try await placer.open(size: gatheredBytes, in: &group, collect: &chunkCRCs)
                for piece in gathered { try await chunk.append(piece) }
                placer.finished(chunk.index, crc: try await chunk.finish())
            }
            if let length = request.contentLength, total != length {
                throw GatewayError.bodyShorterThanDeclared(receivedBytes: total, declaredBytes: length)
            }
            precondition(current == nil, "a chunk stays open after the whole body")
            while let stored = try await group.next() { try placer.check(stored, into: &chunkCRCs) }
        }

        hashing.finish()
        let digests = try await hasher.value
        if let expected = request.expectedSHA256, let sha256 = digests.sha256 {
            guard sha256 == expected else {
                throw GatewayError.sha256Mismatch
            }
        }
        let digest = digests.md5
        if let expected = request.expectedMD5, expected != digest {
            throw GatewayError.md5Mismatch
        }
        if let algorithm = request.checksumAlgorithm, let computed = digests.checksum,
           let expected = try request.expectedChecksum?() {
            guard let decoded = Data(base64Encoded: expected), decoded.count == algorithm.digestByteCount else {
                throw ChecksumError.invalidValue(algorithm)
            }
            guard Data(base64Encoded: computed) == decoded else { throw ChecksumError.mismatch(algorithm) }
        }
        return Streamed(size: total, etag: Hex.encode(digest), chunkCRCs: chunkCRCs, checksum: digests.checksum)
    }
}

/// A chunk every replica acknowledged.
package struct ReplicatedChunk: Sendable {
    var index: Int
    var id: ChunkID
    var size: Int64
    var receipts: [(node: NodeID, receipt: PutChunkReceipt)]
}

/// Why a replica did not take a chunk.
package struct ReplicaWriteError: Error, CustomStringConvertible {
    package var node: NodeID
    package var chunk: ChunkID
    package var underlying: any Error
    package var description: String { "chunk \(chunk) to node \(node): \(underlying)" }
}

/// Opens the chunks of one upload in order and keeps at most `uploadChunksInFlightMax` of them waiting
/// for their replicas' acknowledgements.
package struct ChunkPlacer {
    let pipeline: UploadPipeline
    let pending: PendingUploadID
    private(set) var nextIndex = 0
    private(set) var nextOffset: Int64 = 0
    private var inFlight = 0
    /// Our CRC32C of each chunk, by index, to hold the replicas' receipts against.
    private var computed: [Int: UInt32] = [:]

    init(pipeline: UploadPipeline, pending: PendingUploadID) {
        self.pipeline = pipeline
        self.pending = pending
    }

    /// Places the next chunk of `size` bytes, records the placement (before any byte goes out), and starts
    /// its replica streams as a task of `group`.
    mutating func open(size: Int64, in group: inout ThrowingTaskGroup<ReplicatedChunk, any Error>,
                       collect crcs: inout [UInt32]) async throws -> OpenChunk {
        while inFlight >= pipeline.limits.uploadChunksInFlightMax, let stored = try await group.next() {
            try check(stored, into: &crcs)
        }
        let id = ChunkID.random()
        let targets: [(id: NodeID, client: NodeClient)]
        do {
            targets = try pipeline.nodes.placement(for: id)
        } catch {
            throw GatewayError.notEnoughNodes(reason: "\(error)")
        }
        guard targets.count == pipeline.limits.replicaCount else {
            throw GatewayError.notEnoughNodes(reason: "\(targets.count) of \(pipeline.limits.replicaCount) replicas' nodes are reachable")
        }
        let placement = ChunkPlacement(chunkID: id, index: nextIndex, offset: ByteCount(nextOffset),
                                       length: ByteCount(size), crc32c: 0, replicas: targets.map(\.id))
        try await pipeline.store.recordPlacedChunks(pending, [placement])

        let feeds = targets.map { _ in BoundedFeed<[ByteBuffer]>(capacity: pipeline.limits.replicaQueueBatchesMax) }
        let index = nextIndex
        let metrics = pipeline.metrics
        let stallTimeout = pipeline.limits.nodeStallTimeout
        let directory = pipeline.nodes
        group.addTask {
            metrics?.chunksInFlight.increment()
            defer { metrics?.chunksInFlight.decrement() }
            return try await withThrowingTaskGroup(of: (NodeID, PutChunkReceipt).self) { replicas in
                for (target, feed) in zip(targets, feeds) {
                    replicas.addTask {
                        do {
                            let receipt = try await NodeStallWatch.run(node: target.id, timeout: stallTimeout) { watch in
                                try await target.client.putChunk(id: id, size: ByteCount(size)) { writer in
                                    var batches = feed.makeAsyncIterator()
                                    while let batch = try await watch.excluding({ try await batches.next() }) {
                                        try await writer.write(batch)
                                        watch.progressed()
                                    }
                                }
                            }
                            return (target.id, receipt)
                        } catch {
                            // The body loop may be waiting on this feed: it must see the replica's failure
                            // (a 503), not the bare error of the call (a stall, or the cancellation a failed
                            // sibling replica caused, which the edge would take for the client's).
                            let failure = ReplicaWriteError(node: target.id, chunk: id, underlying: error)
                            feed.close(failure)
                            if !(error is CancellationError) { directory.reportFailedCall(target.id, error) }
                            throw failure
                        }
                    }
                }
                var receipts: [(node: NodeID, receipt: PutChunkReceipt)] = []
                for try await (node, receipt) in replicas { receipts.append((node, receipt)) }
                return ReplicatedChunk(index: index, id: id, size: size, receipts: receipts)
            }
        }
        inFlight += 1
        nextIndex += 1
        nextOffset += size
        return OpenChunk(index: index, size: size, feeds: feeds, messageBytes: pipeline.limits.putChunkMessageBytes)
    }

    /// Every byte of chunk `index` went out with this CRC32C.
    mutating func finished(_ index: Int, crc: UInt32) {
        computed[index] = crc
    }

    /// Holds a stored chunk's receipts against what was sent: every replica must have stored exactly the
    /// bytes and checksum the gateway computed.
    mutating func check(_ stored: ReplicatedChunk, into crcs: inout [UInt32]) throws {
        inFlight -= 1
        guard let crc = computed.removeValue(forKey: stored.index) else {
            preconditionFailure("chunk \(stored.index) was acknowledged before it was finished")
        }
        for (node, receipt) in stored.receipts where receipt.size != ByteCount(stored.size) || receipt.crc32c != crc {
            throw ReplicaWriteError(node: node, chunk: stored.id, underlying: ReceiptMismatch(
                storedBytes: receipt.size.bytes, storedCRC32C: receipt.crc32c, sentBytes: stored.size, sentCRC32C: crc))
        }
        while crcs.count <= stored.index { crcs.append(0) }
        crcs[stored.index] = crc
    }
}

/// The chunk being filled: its CRC32C, and the batch of body buffers not yet sent to its replicas.
package struct OpenChunk {
    let index: Int
    let size: Int64
    let feeds: [BoundedFeed<[ByteBuffer]>]
    let messageBytes: Int
    private var appended: Int64 = 0
    private var crc = CRC32C()
    private var batch: [ByteBuffer] = []
    private var batchBytes = 0

    init(index: Int, size: Int64, feeds: [BoundedFeed<[ByteBuffer]>], messageBytes: Int) {
        self.index = index
        self.size = size
        self.feeds = feeds
        self.messageBytes = messageBytes
    }

    var remaining: Int64 { size - appended }

    mutating func append(_ buffer: ByteBuffer) async throws {
        precondition(Int64(buffer.readableBytes) <= remaining, "more bytes than the chunk declared")
        buffer.withUnsafeReadableBytes { crc.update($0) }
        appended += Int64(buffer.readableBytes)
        batch.append(buffer)
        batchBytes += buffer.readableBytes
        if batchBytes >= messageBytes { try await flush() }
    }

    /// Sends what is batched and ends the replica streams; returns the chunk's CRC32C.
    mutating func finish() async throws -> UInt32 {
        precondition(remaining == 0, "a chunk finished short")
        try await flush()
        for feed in feeds { feed.finish() }
        return crc.value
    }

    private mutating func flush() async throws {
        guard !batch.isEmpty else { return }
        for feed in feeds { try await feed.send(batch) }
        batch = []
        batchBytes = 0
    }
}

extension ChunkID {
    /// 128 random bits in hex: unique without coordination between gateways.
    static func random() -> ChunkID {
        var generator = SystemRandomNumberGenerator()
        let words = [generator.next() as UInt64, generator.next() as UInt64]
        let text = words.map { word -> String in
            let hex = String(word, radix: 16)
            return String(repeating: "0", count: 16 - hex.count) + hex
        }.joined()
        return try! ChunkID(text)
    }
}

/// A count of the uploads in flight with a ceiling: past it a new upload is refused at once (503 `SlowDown`
/// at the edge) instead of queueing its body in memory.
final class UploadAdmission: Sendable {
    private let count = Atomic<Int>(0)

    /// Takes a place when fewer than `max` are taken.
    func enter(max: Int) -> Bool {
        var current = count.load(ordering: .relaxed)
        while current < max {
            let (exchanged, original) = count.compareExchange(expected: current, desired: current + 1,
                                                              ordering: .acquiringAndReleasing)
            if exchanged { return true }
            current = original
        }
        return false
    }

    func leave() {
        count.subtract(1, ordering: .acquiringAndReleasing)
    }

    var current: Int { count.load(ordering: .relaxed) }
}
