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
    /// Read-ahead of every download of this gateway, held under `downloadBufferBytesMax`.
    package let budget: DownloadBudget
    /// Where long downloads pin their chunks against GC; nil: no pins (a test of the data path alone).
    let store: MetadataStore?

    package init(nodes: NodeDirectory, limits: GatewayLimits, logger: Logger, metrics: GatewayMetrics? = nil,
                 store: MetadataStore? = nil) {
        self.store = store
        self.nodes = nodes
        self.limits = limits
        self.logger = logger
        self.metrics = metrics
        self.budget = DownloadBudget(bytes: limits.downloadBufferBytesMax)
    }

    /// A started download: the first piece is in hand (so a failure to read anything still becomes an
    /// error status), the rest arrives through `pieces`.
    package struct Started: Sendable {
        let first: ByteBuffer?
        let pieces: BoundedFeed<ByteBuffer>.AsyncIterator
        let fetch: FetchTask

        /// Writes every piece through `write`; stops the fetcher when done or failed.
        package func forEach(_ write: (ByteBuffer) async throws -> Void) async throws {
            defer { fetch.cancel() }
            if let first {
                try await write(first)
                fetch.ledger.release(first.readableBytes)
            }
            var pieces = self.pieces
            while let piece = try await pieces.next() {
                try await write(piece)
                fetch.ledger.release(piece.readableBytes)
            }
        }

        package func cancel() { fetch.cancel() }
    }

    /// The fetcher of a started download, cancelled when the last reference to it goes: a response whose
    /// body is never written (its client left before the first byte) drops its body closure, and with it
    /// the fetcher, which would otherwise wait on its full feed for ever, holding node streams.
    final class FetchTask: Sendable {
        private let task: Task<Void, Never>
        let ledger: DownloadLedger
        init(_ task: Task<Void, Never>, ledger: DownloadLedger) {
            self.task = task
            self.ledger = ledger
        }
        func cancel() {
            task.cancel()
            ledger.close()
        }
        /// Waits for the fetcher to end.
        var value: Void { get async { await task.value } }
        deinit { cancel() }
    }

    /// Starts fetching `range` of `object` and waits for its first bytes.
    package func start(_ object: ObjectRecord, range: ByteRange) async throws -> Started {
        let chunks = object.chunks.map { (offset: $0.offset, length: $0.length) }
        let slices = ChunkSlice.slices(of: range, over: chunks)
        let feed = BoundedFeed<ByteBuffer>(capacity: limits.prefetchPiecesMax * (limits.downloadChunksAheadMax + 1))
        let ledger = DownloadLedger(budget: budget)
        let pinning = store != nil && range.length.bytes > Int64(Self.quickReadBytes)
            ? slices.map { object.chunks[$0.chunkIndex].chunkID } : []
        let fetch = FetchTask(Task { [self] in
            let keeper = pinning.isEmpty ? nil : Task { await keepPinned(pinning) }
            defer { keeper?.cancel() }
            do {
                let ahead = ReadAhead(feed: feed, ledger: ledger, holdMax: limits.nodeStreamHoldMax)
                for slice in slices {
                    try await fetchSlice(slice, of: object.chunks[slice.chunkIndex], into: ahead)
                }
                feed.finish()
            } catch {
                feed.fail(error)
            }
        }, ledger: ledger)
        var pieces = feed.makeAsyncIterator()
        do {
            let first = try await pieces.next()
            return Started(first: first, pieces: pieces, fetch: fetch)
        } catch {
            fetch.cancel()
            throw error
        }
    }

    /// A download this short is read from the nodes at once (its one piece may always be queued), so it
    /// never outlasts the GC grace and never pins.
    static let quickReadBytes = 1 << 20

    /// Pins `chunks` against GC while the download runs, from a third of the GC grace after its start (a
    /// version replaced after this download read its metadata keeps its chunks for the whole grace, so the
    /// pin is in place well before GC may take them) until the download ends (this task is cancelled).
    private func keepPinned(_ chunks: [ChunkID]) async {
        guard let store else { return }
        do { try await Task.sleep(for: limits.garbageGrace / 3) } catch { return }
        let lease = limits.readPinLease
        let pin: ReadPinID
        do {
            pin = try await store.pinChunks(chunks, for: lease)
        } catch {
            logger.warning("cannot pin a long download's chunks; GC may take them if they are replaced", metadata: [
                "chunks": "\(chunks.count)", "error": "\(error)"])
            return
        }
        while !Task.isCancelled {
            do { try await Task.sleep(for: lease / 3) } catch { break }
            do { _ = try await store.renewPin(pin, for: lease) } catch {
                logger.warning("cannot renew a read pin", metadata: ["pin": "\(pin)", "error": "\(error)"])
            }
        }
        // This task is cancelled: the removal runs on its own (the pin would otherwise expire by itself).
        let logger = self.logger
        Task {
            do { try await store.unpin(pin) } catch {
                logger.notice("cannot remove a read pin; it expires", metadata: ["pin": "\(pin)", "error": "\(error)"])
            }
        }
    }

    /// Fetches one slice, failing over between replicas: a replica that fails part-way is replaced by the
    /// next one from the byte where it stopped. A whole-chunk read is also checked against the CRC32C the
    /// upload recorded (the node checks each block it reads against its own table).
    ///
    /// A client slower than the node keeps the node's stream waiting; after `nodeStreamHoldMax` the call is
    /// ended (the node's slabs go back to clients that read), the piece in hand waits for the client, and
    /// the same replica is asked again from there: a slow client costs node resources only while it reads.
    private func fetchSlice(_ slice: ChunkSlice, of chunk: ChunkPlacement, into ahead: ReadAhead) async throws {
        metrics?.chunksInFlight.increment()
        defer { metrics?.chunksInFlight.decrement() }
        let progress = Mutex((delivered: Int64(0), crc: CRC32C()))
        @Sendable func delivered(_ buffer: ByteBuffer) {
            buffer.withUnsafeReadableBytes { bytes in
                progress.withLock { $0.delivered += Int64(bytes.count); $0.crc.update(bytes) }
            }
        }
        var failures: [String] = []
        let replicas = nodes.readOrder(chunk.replicas)
        var index = 0
        while index < replicas.count {
            let replica = replicas[index]
            let offset = slice.offsetInChunk.bytes + progress.withLock { $0.delivered }
            let length = slice.offsetInChunk.bytes + slice.length.bytes - offset
            if length == 0 { break }
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
                            guard try await watch.excluding({ try await ahead.send(buffer, holding: true) }) else {
                                throw ClientBehind(piece: buffer)
                            }
                            delivered(buffer)
                        }
                    }
                }
            } catch let behind as ClientBehind {
                // The node's stream is closed; the client gets this piece when it has room, then the same
                // replica carries on from the byte after it.
                _ = try await ahead.send(behind.piece, holding: false)
                delivered(behind.piece)
                metrics?.nodeStreamsReleased.increment()
                continue
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
                index += 1
                continue
            }
            let total = progress.withLock { $0.delivered }
            guard total == slice.length.bytes else {
                failures.append("\(replica.id): the stream ended after \(total) of \(slice.length.bytes) bytes")
                index += 1
                continue
            }
            break
        }
        let (total, crc) = progress.withLock { ($0.delivered, $0.crc.value) }
        guard total == slice.length.bytes else {
            throw GatewayError.chunkUnreadable(chunk.chunkID, failures: failures)
        }
        let wholeChunk = slice.offsetInChunk.bytes == 0 && slice.length == chunk.length
        if wholeChunk && chunk.crc32c != 0 && crc != chunk.crc32c {
            // Every byte is already on its way to the client: the response can only be cut short.
            let last = replicas[min(index, replicas.count - 1)]
            nodes.reportBadCopy(chunk.chunkID, on: last.id, reason: "read: CRC32C of the whole chunk differs")
            throw ChunkMismatch(node: last.id, chunk: chunk.chunkID)
        }
    }
}

/// A download's way to its client: the feed the response is written from, and the budget share its
/// queued pieces hold.
struct ReadAhead: Sendable {
    let feed: BoundedFeed<ByteBuffer>
    let ledger: DownloadLedger
    let holdMax: Duration

    /// Queues `piece` for the client. With `holding` (a node stream waits on this), gives up after
    /// `holdMax` and answers false; without, waits as long as the client takes.
    func send(_ piece: ByteBuffer, holding: Bool) async throws -> Bool {
        let deadline = holding ? ContinuousClock.now + holdMax : nil
        guard try await ledger.take(piece.readableBytes, until: deadline) else { return false }
        let queued: Bool
        do {
            if let deadline {
                queued = try await feed.send(piece, within: max(.zero, deadline - ContinuousClock.now))
            } else {
                try await feed.send(piece)
                queued = true
            }
        } catch {
            ledger.release(piece.readableBytes)
            throw error
        }
        if !queued { ledger.release(piece.readableBytes) }
        return queued
    }
}

/// The client kept a node stream waiting past `nodeStreamHoldMax`; `piece` arrived and is not queued yet.
struct ClientBehind: Error, Sendable {
    let piece: ByteBuffer
}

package struct ChunkMismatch: Error, CustomStringConvertible {
    var node: NodeID
    var chunk: ChunkID
    package var description: String { "node \(node) holds a chunk \(chunk) whose size or CRC32C differs from the metadata" }
}
