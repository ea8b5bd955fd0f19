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
    /// The oldest quarantined chunks, at most `Limits.quarantinedChunkIDsReportedMax`.
    package let quarantinedChunkIDs: [ChunkID]
    /// Every chunk file in quarantine/, named above or not.
    package let quarantinedCount: Int64
    /// Data bytes the scrubber verified since the store was opened.
    package let scrubbedBytes: Int64
    /// Full scrub passes finished since the store was opened.
    package let scrubPasses: Int64
}

/// The chunk store engine: write-once chunks in one data directory, moved with an `IOEngine`.
/// Knows nothing of gRPC. The on-disk format and commit protocol are in FORMAT.md.
package final class ChunkStore: Sendable {
    package let directory: String
    package let engine: any IOEngine
    package let limits: Limits
    /// 0: bounded by the disk only.
    package let capacityBytes: Int64
    /// This data directory's identity (node.uuid): a new one when the node starts on an empty directory.
    package let instanceID: String
    let logger: Logger
    let counters: Mutex<Counters>

    struct Counters {
        var chunkCount: Int64
        var bytesStored: Int64
        /// Bytes promised to uploads in progress, so concurrent uploads cannot overbook the capacity.
        var bytesReserved: Int64 = 0
        /// Files in quarantine/; the first `quarantinedChunkIDsRememberedMax` of them are named here, oldest
        /// first.
        var quarantinedCount: Int64
        var quarantinedIDs: [ChunkID]
        var scrubbedBytes: Int64 = 0
        var scrubPasses: Int64 = 0
    }

    /// What a scan of the data directory at open finds.
    private struct Inventory: Sendable {
        var chunkCount: Int64 = 0
        var bytesStored: Int64 = 0
        var removedTemporaryFiles = 0
        var quarantinedCount: Int64 = 0
        var quarantinedIDs: [ChunkID] = []
        var instanceID = ""
        var createdInstanceID = false
    }

    var tmpDirectory: String { directory + "/tmp" }
    var quarantineDirectory: String { directory + "/quarantine" }

    /// Opens (creating if needed) the store in `directory`: reads its identity (node.uuid, created on an
    /// empty directory), removes leftovers of interrupted uploads from `tmp/`, counts the committed chunks
    /// and the quarantined ones.
    package static func open(directory: String, engine: any IOEngine, limits: Limits = Limits(),
                            capacityBytes: Int64 = 0, logger: Logger) async throws -> ChunkStore {
        let inventory = try await engine.blocking { () throws -> Inventory in
            var inventory = Inventory()
            try FileSystem.makeDirectories(directory + "/tmp")
            (inventory.instanceID, inventory.createdInstanceID) = try readOrCreateInstanceID(in: directory)
            for name in try FileSystem.list(directory + "/tmp") {
                try FileSystem.unlink(directory + "/tmp/" + name)
                inventory.removedTemporaryFiles += 1
            }
            for shard in 0..<shardCount {
                let path = directory + "/chunks/" + shardName(shard)
                try FileSystem.makeDirectories(path)
                for name in try FileSystem.list(path) {
                    guard let size = try FileSystem.size(path + "/" + name) else { continue }
                    inventory.chunkCount += 1
                    inventory.bytesStored += size
                }
            }
            try FileSystem.makeDirectories(directory + "/quarantine")
            for name in try FileSystem.list(directory + "/quarantine").sorted() {
                inventory.quarantinedCount += 1
                if inventory.quarantinedIDs.count < limits.quarantinedChunkIDsRememberedMax,
                   let id = try? ChunkID(name) {
                    inventory.quarantinedIDs.append(id)
                }
            }
            try FileSystem.syncDirectory(directory + "/tmp")
            return inventory
        }
        if inventory.createdInstanceID {
            logger.notice("new data directory \(directory): instance id \(inventory.instanceID)")
        }
        if inventory.removedTemporaryFiles > 0 {
            logger.notice("""
                removed \(inventory.removedTemporaryFiles) leftover file(s) of interrupted uploads from \
                \(directory)/tmp
                """)
        }
        if inventory.quarantinedCount > 0 {
            logger.warning("\(inventory.quarantinedCount) corrupt chunk file(s) kept in \(directory)/quarantine")
        }
        logger.info("""
            chunk store open: \(inventory.chunkCount) chunks, \(ByteCount(inventory.bytesStored)) on disk, \
            backend \(engine.backend.rawValue), instance \(inventory.instanceID)
            """)
        let counters = Counters(chunkCount: inventory.chunkCount, bytesStored: inventory.bytesStored,
                                quarantinedCount: inventory.quarantinedCount,
                                quarantinedIDs: inventory.quarantinedIDs)
        return ChunkStore(directory: directory, engine: engine, limits: limits, capacityBytes: capacityBytes,
                          instanceID: inventory.instanceID, logger: logger, counters: counters)
    }

    private init(directory: String, engine: any IOEngine, limits: Limits, capacityBytes: Int64,
                 instanceID: String, logger: Logger, counters: Counters) {
        self.directory = directory
        self.engine = engine
        self.limits = limits
        self.capacityBytes = capacityBytes
        self.instanceID = instanceID
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

    /// Where a chunk whose bytes failed their checksum is kept, out of the readers' way.
    func quarantinePath(of id: ChunkID) -> String {
        quarantineDirectory + "/" + id.value
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

    /// Removes a chunk, and a quarantined copy of it. Returns false when neither existed (deleting twice is
    /// not an error). The shard directory is fsynced before this returns: a chunk the caller was told is
    /// gone does not come back after a crash.
    @discardableResult
    package func delete(id: ChunkID) async throws(ChunkStoreError) -> Bool {
        let path = path(of: id)
        let shardDirectory = shardDirectory(of: id)
        let quarantinePath = quarantinePath(of: id)
        let quarantineDirectory = quarantineDirectory
        /// What was unlinked, and the first error after that: the counters follow the unlinks either way.
        struct Outcome: Sendable {
            var removedBytes: Int64?
            var removedQuarantined = false
            var error: IOError?
        }
        let outcome: Outcome
        do {
            outcome = try await engine.blocking { () throws(IOError) -> Outcome in
                var outcome = Outcome()
                if let size = try FileSystem.size(path) {
                    do throws(IOError) {
                        try FileSystem.unlink(path)
                        outcome.removedBytes = size
                        try FileSystem.syncDirectory(shardDirectory)
                    } catch where error.isNotFound && outcome.removedBytes == nil {
                        // A concurrent delete or quarantine won.
                    } catch {
                        outcome.error = error
                    }
                }
                // Tried whatever the in-memory list says: it is bounded, the directory is not.
                do throws(IOError) {
                    try FileSystem.unlink(quarantinePath)
                    outcome.removedQuarantined = true
                    try FileSystem.syncDirectory(quarantineDirectory)
                } catch where error.isNotFound && !outcome.removedQuarantined {
                } catch {
                    outcome.error = outcome.error ?? error
                }
                return outcome
            }
        } catch {
            throw ChunkStoreError.wrapping(error)
        }
        counters.withLock {
            if let bytes = outcome.removedBytes {
                $0.chunkCount -= 1
                $0.bytesStored -= bytes
            }
            if outcome.removedQuarantined { $0.forgetQuarantined(id) }
        }
        if let error = outcome.error { throw .io(error) }
        return outcome.removedBytes != nil || outcome.removedQuarantined
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
        let reportedMax = limits.quarantinedChunkIDsReportedMax
        let counters = counters.withLock { counters in
            var copy = counters
            copy.quarantinedIDs = Array(counters.quarantinedIDs.prefix(reportedMax))
            return copy
        }
        return ChunkStoreStatus(
            chunkCount: counters.chunkCount, bytesStored: counters.bytesStored, diskTotalBytes: space.totalBytes,
            diskFreeBytes: space.freeBytes, capacityBytes: capacityBytes, backend: engine.backend,
            registeredBuffers: engine.usesRegisteredBuffers, quarantinedChunkIDs: counters.quarantinedIDs,
            quarantinedCount: counters.quarantinedCount, scrubbedBytes: counters.scrubbedBytes,
            scrubPasses: counters.scrubPasses)
    }
}
