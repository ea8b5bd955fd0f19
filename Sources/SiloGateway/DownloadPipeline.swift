import SiloS3
import Foundation
import GRPCCore
import Logging
import NIOCore
import SiloCore
import SiloMetadata
import SiloStorage
import Synchronization

/// Streams an object (or a range of it) out of the cluster: chunks in order from the first healthy
/// replica, the next ones fetched while the current one is written, failover to another replica on an
/// error or a checksum mismatch, resuming where the failed one stopped. DESIGN.md, "Download path".
///
/// Copies of each byte, after the kernel's: (1) the gRPC transport's (reassembling messages), (2) from the
/// gRPC message into the response buffer (grpc-swift keeps its message buffer's `ByteBuffer` internal),
/// then the kernel's. The fetcher runs as its own task, so (2) overlaps the writing of the previous piece.
package struct DownloadPipeline: Sendable {
    let nodes: NodeDirectory
    let limits: GatewayLimits
    let logger: Logger
    let metrics: GatewayMetrics?

    package init(nodes: NodeDirectory, limits: GatewayLimits, logger: Logger, metrics: GatewayMetrics? = nil) {
        self.nodes = nodes
        self.limits = limits
        self.logger = logger
        self.metrics = metrics
    }

    /// A started download: the first piece is in hand (so a failure to read anything still becomes an
    /// error status), the rest arrives through `pieces`.
    package struct Started: Sendable {
        let first: ByteBuffer?
        let pieces: BoundedFeed<ByteBuffer>.AsyncIterator
        let fetch: Task<Void, Never>

        /// Writes every piece through `write`; stops the fetcher when done or failed.
        package func forEach(_ write: (ByteBuffer) async throws -> Void) async throws {
            defer { fetch.cancel() }
            if let first { try await write(first) }
            var pieces = self.pieces
            while let piece = try await pieces.next() { try await write(piece) }
        }

        package func cancel() { fetch.cancel() }
    }

    /// Starts fetching `range` of `object` and waits for its first bytes.
    package func start(_ object: ObjectRecord, range: ByteRange) async throws -> Started {
        let chunks = object.chunks.map { (offset: $0.offset, length: $0.length) }
        let slices = ChunkSlice.slices(of: range, over: chunks)
        let feed = BoundedFeed<ByteBuffer>(capacity: limits.prefetchPiecesMax * (limits.downloadChunksAheadMax + 1))
        let fetch = Task { [self] in
            do {
                for slice in slices {
                    try await fetchSlice(slice, of: object.chunks[slice.chunkIndex], into: feed)
                }
                feed.finish()
            } catch {
                feed.fail(error)
            }
        }
        var pieces = feed.makeAsyncIterator()
        do {
            let first = try await pieces.next()
            return Started(first: first, pieces: pieces, fetch: fetch)
        } catch {
            fetch.cancel()
            throw error
        }
    }

    /// Fetches one slice, failing over between replicas: a replica that fails part-way is replaced by the
    /// next one from the byte where it stopped. A whole-chunk read is also checked against the CRC32C the
    /// upload recorded (the node checks each block it reads against its own table).
    private func fetchSlice(_ slice: ChunkSlice, of chunk: ChunkPlacement, into feed: BoundedFeed<ByteBuffer>) async throws {
        metrics?.chunksInFlight.increment()
        defer { metrics?.chunksInFlight.decrement() }
        let progress = Mutex((delivered: Int64(0), crc: CRC32C()))
        var failures: [String] = []
        for replica in nodes.readOrder(chunk.replicas) {
            let delivered = progress.withLock { $0.delivered }
            let offset = slice.offsetInChunk.bytes + delivered
            let length = slice.length.bytes - delivered
            do {
                try await NodeStallWatch.run(node: replica.id, timeout: limits.nodeStallTimeout) { watch in
                    try await replica.client.getChunk(id: chunk.chunkID, offset: ByteCount(offset),
                                                      length: ByteCount(length)) { pieces in
                        for try await piece in pieces {
                            watch.progressed()
                            if let size = piece.chunkSize, size != UInt64(chunk.length.bytes)
                                || (chunk.crc32c != 0 && piece.chunkCRC32C.map { $0 != chunk.crc32c } == true) {
                                throw ChunkMismatch(node: replica.id, chunk: chunk.chunkID)
                            }
                            guard piece.bytes.count > 0 else { continue }
                            var buffer = ByteBufferAllocator().buffer(capacity: piece.bytes.count)
                            piece.bytes.withUnsafeBytes { bytes in buffer.writeBytes(bytes) }
                            try await watch.excluding { try await feed.send(buffer) }
                            buffer.withUnsafeReadableBytes { bytes in
                                progress.withLock { $0.delivered += Int64(bytes.count); $0.crc.update(bytes) }
                            }
                        }
                    }
                }
            } catch let error where Task.isCancelled || error is CancellationError || error is BoundedFeed<ByteBuffer>.Closed {
                throw error
            } catch {
                nodes.reportFailedCall(replica.id, error)
                if RepairWorker.isBadCopy(error) {
                    nodes.reportBadCopy(chunk.chunkID, on: replica.id, reason: "read: \(error)")
                }
                failures.append("\(replica.id): \(error)")
                logger.warning("chunk read failed; trying the next replica", metadata: [
                    "chunk": "\(chunk.chunkID)", "node": "\(replica.id)", "error": "\(error)"])
                continue
            }
            let (total, crc) = progress.withLock { ($0.delivered, $0.crc.value) }
            guard total == slice.length.bytes else {
                failures.append("\(replica.id): the stream ended after \(total) of \(slice.length.bytes) bytes")
                continue
            }
            let wholeChunk = slice.offsetInChunk.bytes == 0 && slice.length == chunk.length
            if wholeChunk && chunk.crc32c != 0 && crc != chunk.crc32c {
                // Every byte is already on its way to the client: the response can only be cut short.
                nodes.reportBadCopy(chunk.chunkID, on: replica.id, reason: "read: CRC32C of the whole chunk differs")
                throw ChunkMismatch(node: replica.id, chunk: chunk.chunkID)
            }
            return
        }
        throw GatewayError.chunkUnreadable(chunk.chunkID, failures: failures)
    }
}

package struct ChunkMismatch: Error, CustomStringConvertible {
    var node: NodeID
    var chunk: ChunkID
    package var description: String { "node \(node) holds a chunk \(chunk) whose size or CRC32C differs from the metadata" }
}
