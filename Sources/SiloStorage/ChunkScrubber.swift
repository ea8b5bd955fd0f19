import Logging
import SiloCore
import SiloIO

/// Reads every committed chunk in the background, shard by shard, through the normal reader (which checks
/// each block against the file's checksum table and quarantines a chunk that fails), and compares the
/// data with the chunk's CRC32C as well. Finds the damage that no client read touches, so that a gateway's
/// repair restores the copy before a second one is lost.
///
/// Never starves client traffic: one chunk at a time, in ranges of one slab (the reader then holds a
/// single slab and none while the scrubber sleeps), at an average rate under `bytesPerSecond`.
package struct ChunkScrubber: Sendable {
    package let store: ChunkStore
    /// Cap on the average read rate; every range also counts its 4 KiB header, so that a store of tiny
    /// chunks is not scrubbed at the disk's full rate.
    package let bytesPerSecond: Int64
    /// Pause between the end of one full pass and the start of the next.
    package let interval: Duration

    /// What one chunk's scrub found.
    package enum Outcome: Sendable, Equatable {
        case good
        /// Now in quarantine/ (moved by this scrub or by a reader that found it first).
        case corrupt
        /// Deleted, quarantined or replaced while the scrub ran: nothing to say about it.
        case gone
        /// Could not be read (an I/O error): left alone, tried again next pass.
        case unreadable
    }

    package init(store: ChunkStore, bytesPerSecond: Int64, interval: Duration) {
        precondition(bytesPerSecond > 0, "a scrubber needs a positive rate; 0 means do not start one")
        self.store = store
        self.bytesPerSecond = bytesPerSecond
        self.interval = interval
    }

    private var logger: Logger { store.logger }

    /// Scrubs pass after pass until the task is cancelled, then returns promptly: the current range is
    /// finished (at most one slab) and the reader closed.
    package func run() async {
        logger.info("scrubber: \(ByteCount(bytesPerSecond))/s, \(interval) between passes")
        do {
            while true {
                try await scrubPass()
                try await Task.sleep(for: interval)
            }
        } catch {
            logger.debug("scrubber stopped")
        }
    }

    /// One pass over the chunks committed when their shard is listed. Throws `CancellationError` only.
    package func scrubPass() async throws(CancellationError) {
        var pacer = ScrubPacer(bytesPerSecond: bytesPerSecond)
        var counts: [Outcome: Int] = [:]
        for shard in 0..<ChunkStore.shardCount {
            let chunks: [StoredChunk]
            do {
                chunks = try await store.listChunks(shard: shard)
            } catch .cancelled {
                throw CancellationError()
            } catch {
                logger.warning("scrubber: cannot list shard \(ChunkStore.shardName(shard)): \(error)")
                continue
            }
            for chunk in chunks {
                if Task.isCancelled { throw CancellationError() }
                counts[try await scrub(chunk.id, pacer: &pacer), default: 0] += 1
            }
        }
        store.counters.withLock { $0.scrubPasses += 1 }
        let message: Logger.Message = """
            scrub pass done: \(counts[.good, default: 0]) good, \(counts[.corrupt, default: 0]) corrupt, \
            \(counts[.unreadable, default: 0]) unreadable, \(counts[.gone, default: 0]) gone meanwhile
            """
        // A clean pass is routine (every second with a short --scrub-interval); damage is news.
        if counts[.corrupt, default: 0] + counts[.unreadable, default: 0] > 0 {
            logger.warning(message)
        } else {
            logger.debug(message)
        }
    }

    /// Reads chunk `id` range by range, pacing after each, and quarantines it when its data fails the
    /// chunk's CRC32C. A block that fails the checksum table is quarantined by the reader itself.
    package func scrub(_ id: ChunkID) async throws(CancellationError) -> Outcome {
        var pacer = ScrubPacer(bytesPerSecond: bytesPerSecond)
        return try await scrub(id, pacer: &pacer)
    }

    private func scrub(_ id: ChunkID, pacer: inout ScrubPacer) async throws(CancellationError) -> Outcome {
        // Ranges of one slab: a multiple of the checksum block (Limits.validate), so each block is verified
        // once, and the reader reads no further ahead.
        let rangeBytes = Int64(store.limits.bufferSlabBytes)
        var crc = CRC32C()
        var copy: FileStatus?
        var expected: (bytes: Int64, crc32c: UInt32) = (0, 0)
        var offset: Int64 = 0
        repeat {
            let reader: ChunkReader
            do {
                reader = try await store.openRead(id: id, offset: offset, length: rangeBytes)
            } catch {
                return try outcome(of: error, id: id)
            }
            // Another copy under the same name (deleted and written again between two ranges) is left to
            // the next pass: mixing the two would look like damage.
            if let copy, !reader.fileStatus.isSameFile(as: copy) {
                await reader.close()
                return .gone
            }
            copy = reader.fileStatus
            expected = (reader.chunkBytes, reader.chunkCRC32C)
            do {
                while let piece = try await reader.nextPiece() {
                    piece.withUnsafeBytes { crc.update($0) }
                }
            } catch {
                await reader.close()
                return try outcome(of: error, id: id)
            }
            await reader.close()
            store.counters.withLock { $0.scrubbedBytes += reader.length }
            offset += reader.length
            try await pacer.account(reader.length + Int64(ChunkFileLayout.headerBytes))
        } while offset < expected.bytes
        guard crc.value == expected.crc32c else {
            let moved = await store.quarantine(
                id: id, file: copy,
                reason: "data has CRC32C \(crc.value), the header says \(expected.crc32c)")
            return moved ? .corrupt : .gone
        }
        return .good
    }

    private func outcome(of error: ChunkStoreError, id: ChunkID) throws(CancellationError) -> Outcome {
        switch error {
        case .corrupt: return .corrupt
        // Deleted or quarantined under the scrubber; replaced by a shorter copy between two ranges.
        case .notFound, .outOfRange: return .gone
        case .cancelled: throw CancellationError()
        default:
            logger.warning("scrubber: cannot read chunk \(id): \(error)")
            return .unreadable
        }
    }
}

/// Keeps the scrubber's average rate under its cap: after each range it sleeps until the time at which the
/// bytes read so far would have been read at the cap. Time spent below the cap (a busy disk) is not banked
/// beyond a second, so the scrubber never bursts to catch up.
struct ScrubPacer {
    let bytesPerSecond: Int64
    private let clock = ContinuousClock()
    private var start: ContinuousClock.Instant
    private var bytes: Int64 = 0
    static let creditMax: Duration = .seconds(1)

    init(bytesPerSecond: Int64) {
        self.bytesPerSecond = bytesPerSecond
        start = ContinuousClock.now
    }

    mutating func account(_ count: Int64) async throws(CancellationError) {
        bytes += count
        let due = start + .seconds(Double(bytes) / Double(bytesPerSecond))
        let now = clock.now
        if due > now {
            do {
                try await Task.sleep(until: due, clock: clock)
            } catch {
                throw CancellationError()
            }
        } else if now - due > Self.creditMax {
            start = now - Self.creditMax
            bytes = 0
        }
    }
}
