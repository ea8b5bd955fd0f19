import Foundation
import SiloCore
import SiloIO

/// One chunk upload in progress. Used by one task at a time: `append` the data as it arrives, then
/// `commit`, or `abort` on any failure. Nothing is visible to readers before `commit` returns.
///
/// Copies per byte: the caller's message buffer → pool slab (one memcpy, checksummed in cache right
/// after) → disk by O_DIRECT DMA. Up to `writesInFlightPerChunkMax` slab writes run while the next slab fills.
package final class ChunkWriter {
    package let id: ChunkID
    package let size: Int64
    private let store: ChunkStore
    private let expectedCRC32C: UInt32?
    private let layout: ChunkFileLayout
    private let temporaryPath: String
    private let file: DirectFile
    private var engine: any IOEngine { store.engine }

    private var current: IOBuffer?
    private var receivedBytes: Int64 = 0
    /// File offset where `current` will be written.
    private var slabOffset = Int64(ChunkFileLayout.headerBytes)
    private var crc = CRC32C()
    private var blockCRC = CRC32C()
    private var blockFilledBytes = 0
    private var blockChecksums: [UInt32] = []
    private var writesInFlight: [Task<Void, any Error>] = []
    private var finished = false
    private var fileClosed = false

    static func begin(store: ChunkStore, id: ChunkID, size: Int64, expectedCRC32C: UInt32?)
        async throws(ChunkStoreError) -> ChunkWriter
    {
        let layout = ChunkFileLayout(dataBytes: size, blockBytes: store.limits.checksumBlockBytes)
        // Limits.validate guarantees the table of the largest chunk and a header fit in one slab.
        precondition(layout.tableBytes + 4096 <= store.limits.bufferSlabBytes, "checksum table larger than a slab")
        try await store.reserve(layout.fileBytes)
        let path = store.tmpDirectory + "/" + id.value + "." + UUID().uuidString
        do {
            let file = try await store.engine.blocking { () throws -> DirectFile in
                let file = try FileSystem.open(path, .createDirect)
                do {
                    try FileSystem.reserve(file, bytes: layout.fileBytes)
                } catch {
                    FileSystem.close(file)
                    try? FileSystem.unlink(path)
                    throw error
                }
                return file
            }
            return ChunkWriter(store: store, id: id, size: size, expectedCRC32C: expectedCRC32C, layout: layout,
                               temporaryPath: path, file: file)
        } catch {
            store.releaseReservation(layout.fileBytes)
            throw ChunkStoreError.wrapping(error, neededBytes: layout.fileBytes)
        }
    }

    private init(store: ChunkStore, id: ChunkID, size: Int64, expectedCRC32C: UInt32?, layout: ChunkFileLayout,
                 temporaryPath: String, file: DirectFile) {
        self.store = store
        self.id = id
        self.size = size
        self.expectedCRC32C = expectedCRC32C
        self.layout = layout
        self.temporaryPath = temporaryPath
        self.file = file
        blockChecksums.reserveCapacity(layout.blockCount)
    }

    deinit {
        precondition(finished, "ChunkWriter dropped without commit or abort")
    }

    /// Accepts the next piece of data. More bytes than the declared size is `.sizeMismatch` at once.
    package func append<Bytes: ContiguousBytes>(_ data: Bytes) async throws(ChunkStoreError) {
        let dataCount = data.withUnsafeBytes { $0.count }
        precondition(!finished, "append after commit or abort")
        guard receivedBytes + Int64(dataCount) <= size else {
            throw .sizeMismatch(declared: size, received: receivedBytes + Int64(dataCount))
        }
        var start = 0
        while start < dataCount {
            if current == nil {
                do {
                    current = try await engine.pool.acquire()
                } catch {
                    throw ChunkStoreError.wrapping(error)
                }
            }
            let buffer = current!
            let from = buffer.count
            let copied = buffer.append(data, from: start)
            checksum(buffer, from..<(from + copied))
            start += copied
            receivedBytes += Int64(copied)
            if buffer.isFull { try await writeCurrent() }
        }
    }

    /// Folds newly copied bytes into the per-block CRCs while they are still in cache. The chunk's CRC is
    /// combined from the block CRCs, so each byte is checksummed once.
    private func checksum(_ buffer: IOBuffer, _ range: Range<Int>) {
        var position = range.lowerBound
        while position < range.upperBound {
            let take = min(range.upperBound - position, layout.blockBytes - blockFilledBytes)
            buffer.updateChecksum(&blockCRC, range: position..<(position + take))
            blockFilledBytes += take
            position += take
            if blockFilledBytes == layout.blockBytes { closeBlock() }
        }
    }

    private func closeBlock() {
        crc.append(crc: blockCRC.value, length: Int64(blockFilledBytes))
        blockChecksums.append(blockCRC.value)
        blockCRC = CRC32C()
        blockFilledBytes = 0
    }

    /// Hands the current slab to a write and keeps at most `writesInFlightPerChunkMax` running.
    private func writeCurrent() async throws(ChunkStoreError) {
        guard let buffer = current else { return }
        current = nil
        let offset = slabOffset
        slabOffset += Int64(buffer.count)
        let engine = self.engine
        let file = self.file
        writesInFlight.append(Task {
            defer { engine.pool.release(buffer) }
            try await engine.write(file, from: buffer, at: offset)
        })
        while writesInFlight.count >= store.limits.writesInFlightPerChunkMax {
            try await waitForOldestWrite()
        }
    }

    private func waitForOldestWrite() async throws(ChunkStoreError) {
        let oldest = writesInFlight.removeFirst()
        do {
            try await oldest.value
        } catch {
            throw ChunkStoreError.wrapping(error, neededBytes: layout.fileBytes)
        }
    }

    /// Checks size and CRC32C against the header, makes the chunk durable and visible. On any error the
    /// writer has already cleaned up after itself (as `abort` would).
    @discardableResult
    package func commit() async throws(ChunkStoreError) -> (size: Int64, crc32c: UInt32) {
        precondition(!finished, "commit after commit or abort")
        let removedQuarantined: Bool
        do {
            removedQuarantined = try await persist()
        } catch {
            await abort()
            throw error
        }
        finished = true
        store.recordCommit(fileBytes: layout.fileBytes)
        if removedQuarantined { store.recordQuarantineRemoved(id) }
        return (size, crc.value)
    }

    /// Returns true when a quarantined copy of the id was removed: the good copy replaces it.
    private func persist() async throws(ChunkStoreError) -> Bool {
        guard receivedBytes == size else { throw .sizeMismatch(declared: size, received: receivedBytes) }
        if blockFilledBytes > 0 { closeBlock() }
        if let expectedCRC32C, expectedCRC32C != crc.value {
            throw .checksumMismatch(declared: expectedCRC32C, computed: crc.value)
        }
        if let tail = current {
            tail.zeroFill(upTo: Int(ByteCount(Int64(tail.count)).roundedUp(toMultipleOf: 4096).bytes))
            try await writeCurrent()
        }
        while !writesInFlight.isEmpty { try await waitForOldestWrite() }

        let header = ChunkFileHeader(id: id, layout: layout, crc32c: crc.value)
        let temporaryPath = self.temporaryPath
        let finalPath = store.path(of: id)
        let shardDirectory = store.shardDirectory(of: id)
        let quarantinePath = store.quarantinePath(of: id)
        let quarantineDirectory = store.quarantineDirectory
        let file = self.file
        do {
            // Nothing else is held now, so waiting for a slab cannot deadlock. The checksum table and the
            // header share one slab and go down in one submission with the fsync.
            let buffer = try await engine.pool.acquire()
            defer { engine.pool.release(buffer) }
            var writes: [IOWrite] = []
            if layout.blockCount > 0 {
                var table = [UInt8](repeating: 0, count: layout.blockCount * 4)
                for (index, value) in blockChecksums.enumerated() { table.storeLittleEndian(value, at: index * 4) }
                buffer.append(table)
                buffer.zeroFill(upTo: Int(layout.tableBytes))
                writes.append(IOWrite(buffer, 0..<buffer.count, at: layout.tableOffset))
            }
            let headerStart = buffer.count
            buffer.append(header.encoded())
            writes.append(IOWrite(buffer, headerStart..<buffer.count, at: 0))
            try await engine.writeAndSync(file, writes)
            fileClosed = true  // the block below closes it first, whatever happens after
            return try await engine.blocking {
                FileSystem.close(file)
                try FileSystem.renameNoReplace(temporaryPath, to: finalPath)
                try FileSystem.syncDirectory(shardDirectory)
                // Tried on every commit (an unlink of a missing name costs a lookup): the in-memory list of
                // quarantined ids is bounded, the directory is not.
                return ChunkStore.removeQuarantined(quarantinePath, directory: quarantineDirectory)
            }
        } catch let error as IOError where error.isAlreadyExists {
            throw .alreadyExists(id)
        } catch {
            throw ChunkStoreError.wrapping(error, neededBytes: layout.fileBytes)
        }
    }

    /// Abandons the upload: waits for writes in flight, returns the slabs, removes the temporary file and
    /// the space reservation. Safe to call after a failed commit.
    package func abort() async {
        guard !finished else { return }
        finished = true
        for write in writesInFlight { _ = try? await write.value }
        writesInFlight.removeAll()
        if let buffer = current {
            engine.pool.release(buffer)
            current = nil
        }
        let file = self.file
        let path = temporaryPath
        let close = !fileClosed
        fileClosed = true
        _ = try? await engine.blocking {
            if close { FileSystem.close(file) }
            try? FileSystem.unlink(path)
        }
        store.releaseReservation(layout.fileBytes)
    }
}
