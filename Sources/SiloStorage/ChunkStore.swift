import Foundation
import Logging
import SiloCore
import SiloIO
import Synchronization

/// Counters and health of one node's chunk store.
package struct ChunkStoreStatus: Sendable, Equatable {
    package let chunkCount: Int64
    /// On-disk bytes of committed chunk files (header, padding and checksum table included).
    package let bytesStored: Int64
    package let diskTotalBytes: UInt64
    package let diskFreeBytes: UInt64
    /// 0 when no capacity is configured.
    package let capacityBytes: Int64
    package let backend: IOBackend
    package let registeredBuffers: Bool
}

/// The chunk store engine: write-once chunks in one data directory, moved with an `IOEngine`.
/// Knows nothing of gRPC. The on-disk format and commit protocol are in FORMAT.md.
package final class ChunkStore: Sendable {
    package let directory: String
    package let engine: any IOEngine
    package let limits: Limits
    /// 0: bounded by the disk only.
    package let capacityBytes: Int64
    let logger: Logger
    private let counters: Mutex<Counters>

    private struct Counters {
        var chunkCount: Int64
        var bytesStored: Int64
        /// Bytes promised to uploads in progress, so concurrent uploads cannot overbook the capacity.
        var bytesReserved: Int64 = 0
    }

    var tmpDirectory: String { directory + "/tmp" }

    /// Opens (creating if needed) the store in `directory`: removes leftovers of interrupted uploads from
    /// `tmp/` and counts the committed chunks.
    package static func open(directory: String, engine: any IOEngine, limits: Limits = Limits(),
                            capacityBytes: Int64 = 0, logger: Logger) async throws -> ChunkStore {
        let (count, bytes, removed) = try await engine.blocking { () throws -> (Int64, Int64, Int) in
            try FileSystem.makeDirectories(directory + "/tmp")
            var removed = 0
            for name in try FileSystem.list(directory + "/tmp") {
                try FileSystem.unlink(directory + "/tmp/" + name)
                removed += 1
            }
            var count: Int64 = 0
            var bytes: Int64 = 0
            for shard in 0..<256 {
                let path = directory + "/chunks/" + shardName(shard)
                try FileSystem.makeDirectories(path)
                for name in try FileSystem.list(path) {
                    guard let size = try FileSystem.size(path + "/" + name) else { continue }
                    count += 1
                    bytes += size
                }
            }
            try FileSystem.syncDirectory(directory + "/tmp")
            return (count, bytes, removed)
        }
        if removed > 0 {
            logger.notice("removed \(removed) leftover file(s) of interrupted uploads from \(directory)/tmp")
        }
        logger.info("chunk store open: \(count) chunks, \(ByteCount(bytes)) on disk, backend \(engine.backend.rawValue)")
        return ChunkStore(directory: directory, engine: engine, limits: limits, capacityBytes: capacityBytes,
                          logger: logger, counters: Counters(chunkCount: count, bytesStored: bytes))
    }

    private init(directory: String, engine: any IOEngine, limits: Limits, capacityBytes: Int64, logger: Logger,
                 counters: Counters) {
        self.directory = directory
        self.engine = engine
        self.limits = limits
        self.capacityBytes = capacityBytes
        self.logger = logger
        self.counters = Mutex(counters)
    }

    static func shardName(_ shard: Int) -> String {
        let digits = Array("0123456789abcdef")
        return String([digits[shard >> 4], digits[shard & 15]])
    }

    func path(of id: ChunkID) -> String {
        let shard = Int(CRC32C.checksum(Array(id.value.utf8)) & 0xff)
        return directory + "/chunks/" + Self.shardName(shard) + "/" + id.value
    }

    func shardDirectory(of id: ChunkID) -> String {
        let path = path(of: id)
        return String(path[..<path.lastIndex(of: "/")!])
    }

    // MARK: capacity accounting

    /// Reserves `bytes` for an upload, or throws `.noSpace` when the capacity or the disk cannot take it.
    func reserve(_ bytes: Int64) async throws(ChunkStoreError) {
        let space: FileSystemSpace
        do {
            let directory = self.directory
            space = try await engine.blocking { try FileSystem.space(directory) }
        } catch {
            throw ChunkStoreError.wrapping(error)
        }
        try counters.withLock { (counters) throws(ChunkStoreError) in
            let committed = counters.bytesStored + counters.bytesReserved
            if capacityBytes > 0, committed + bytes > capacityBytes {
                throw .noSpace(needed: bytes, available: max(0, capacityBytes - committed))
            }
            let diskAvailable = Int64(clamping: space.freeBytes) - counters.bytesReserved
            if bytes > diskAvailable {
                throw .noSpace(needed: bytes, available: max(0, diskAvailable))
            }
            counters.bytesReserved += bytes
        }
    }

    func releaseReservation(_ bytes: Int64) {
        counters.withLock { $0.bytesReserved -= bytes }
    }

    func recordCommit(fileBytes: Int64) {
        counters.withLock {
            $0.bytesReserved -= fileBytes
            $0.chunkCount += 1
            $0.bytesStored += fileBytes
        }
    }

    // MARK: operations

    /// Starts an upload of `size` bytes. Fails before any byte is accepted when the id exists, the size is
    /// over the limit, or there is no room.
    package func beginPut(id: ChunkID, size: Int64, crc32c: UInt32?) async throws(ChunkStoreError) -> ChunkWriter {
        guard size >= 0, size <= limits.chunkBytesMax else {
            throw .tooLarge(declared: size, limit: limits.chunkBytesMax)
        }
        let finalPath = path(of: id)
        let exists: Bool
        do {
            exists = try await engine.blocking { try FileSystem.size(finalPath) != nil }
        } catch {
            throw ChunkStoreError.wrapping(error)
        }
        if exists { throw .alreadyExists(id) }
        return try await ChunkWriter.begin(store: self, id: id, size: size, expectedCRC32C: crc32c)
    }

    /// Opens a committed chunk for reading `length` bytes from `offset` (`length` nil: to the end).
    package func openRead(id: ChunkID, offset: Int64 = 0, length: Int64? = nil) async throws(ChunkStoreError)
        -> ChunkReader
    {
        try await ChunkReader.open(store: self, id: id, offset: offset, length: length)
    }

    /// Removes a chunk. Returns false when it did not exist (deleting twice is not an error).
    @discardableResult
    package func delete(id: ChunkID) async throws(ChunkStoreError) -> Bool {
        let path = path(of: id)
        let removedBytes: Int64?
        do {
            removedBytes = try await engine.blocking { () throws -> Int64? in
                guard let size = try FileSystem.size(path) else { return nil }
                do {
                    try FileSystem.unlink(path)
                } catch let error as IOError where error.isNotFound {
                    return nil  // a concurrent delete won
                }
                return size
            }
        } catch {
            throw ChunkStoreError.wrapping(error)
        }
        guard let removedBytes else { return false }
        counters.withLock {
            $0.chunkCount -= 1
            $0.bytesStored -= removedBytes
        }
        return true
    }

    /// What HealthCheck reports. statvfs is called here, not on the engine's blocking threads: it reads the
    /// file system's in-memory counters and returns in microseconds, while those two threads can sit for
    /// seconds in open/rename/unlink behind a busy journal, and a probe queued behind them can time out
    /// three times running, so that gateways mark a working node down (the likely cause of a node left out
    /// of placement once in the integration suite; not reproduced since).
    package func status() async throws(ChunkStoreError) -> ChunkStoreStatus {
        let space: FileSystemSpace
        do {
            space = try FileSystem.space(directory)
        } catch {
            throw ChunkStoreError.wrapping(error)
        }
        let (count, bytes) = counters.withLock { ($0.chunkCount, $0.bytesStored) }
        return ChunkStoreStatus(
            chunkCount: count, bytesStored: bytes, diskTotalBytes: space.totalBytes,
            diskFreeBytes: space.freeBytes, capacityBytes: capacityBytes, backend: engine.backend,
            registeredBuffers: engine.usesRegisteredBuffers)
    }
}
