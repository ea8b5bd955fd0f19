import Foundation
import SiloCore
import SiloIO

/// A read of one committed chunk, or of a range of it, handed out in pieces of at most
/// `getChunkMessageBytes`. Every checksum block is verified before any of its bytes is handed out: a
/// mismatch is `.corrupt` (DATA_LOSS at the edge), never served, and the chunk is moved to quarantine/
/// (ChunkStore+Quarantine.swift) before the error is thrown. Used by one task at a time; call `close`.
///
/// Copies per byte: disk → pool slab by O_DIRECT DMA, checksummed in place → one copy into the piece
/// (`Data`) that goes to the transport. Up to `readsAheadPerChunkMax` slab reads run ahead of the one being
/// handed out; read-ahead takes slabs only when free (`tryAcquire`), so it never waits while holding one.
package final class ChunkReader {
    package let id: ChunkID
    /// The whole chunk's size and CRC32C, from its header.
    package let chunkBytes: Int64
    package let chunkCRC32C: UInt32
    /// The range being read.
    package let offset: Int64
    package let length: Int64
    /// The file being read, so that a later open of the same id can tell whether it is the same copy.
    package let fileStatus: FileStatus

    private let store: ChunkStore
    private let descriptor: DirectFile
    private let layout: ChunkFileLayout
    private let blockChecksums: [UInt32]
    /// First block of the range: `blockChecksums[0]` belongs to it.
    private let firstBlock: Int
    private var engine: any IOEngine { store.engine }

    /// Data offset (within the chunk) of the next slab to read.
    private var nextReadOffset: Int64
    private let readEndOffset: Int64
    private var pending: [(dataOffset: Int64, task: Task<IOBuffer, any Error>)] = []
    private var current: (dataOffset: Int64, buffer: IOBuffer)?
    /// Next chunk offset to hand out.
    private var position: Int64
    private var closed = false

    static func open(store: ChunkStore, id: ChunkID, offset: Int64, length: Int64?) async throws(ChunkStoreError)
        -> ChunkReader
    {
        let path = store.path(of: id)
        let file: DirectFile
        do {
            file = try await store.engine.blocking { try FileSystem.open(path, .readDirect) }
        } catch let error as IOError where error.isNotFound {
            throw .notFound(id)
        } catch {
            throw ChunkStoreError.wrapping(error)
        }
        do {
            return try await ChunkReader(store: store, id: id, file: file, offset: offset, length: length)
        } catch {
            if case .corrupt(_, let reason) = error {
                // Only the file still open says which copy was found bad.
                let status = try? await store.engine.blocking { try FileSystem.status(file) }
                await store.quarantine(id: id, file: status, reason: reason)
            }
            _ = try? await store.engine.blocking { FileSystem.close(file) }
            throw error
        }
    }

    private init(store: ChunkStore, id: ChunkID, file: DirectFile, offset: Int64, length: Int64?)
        async throws(ChunkStoreError)
    {
        self.store = store
        self.id = id
        self.descriptor = file
        let engine = store.engine

        let buffer: IOBuffer
        do {
            buffer = try await engine.pool.acquire()
        } catch {
            throw ChunkStoreError.wrapping(error)
        }
        defer { engine.pool.release(buffer) }

        let header: ChunkFileHeader
        let status: FileStatus
        do {
            status = try await engine.blocking { try FileSystem.status(file) }
            let read = try await engine.read(file, into: buffer, count: ChunkFileLayout.headerBytes, at: 0)
            guard read == ChunkFileLayout.headerBytes,
                  let decoded = ChunkFileHeader(decoding: buffer.bytes(0..<read)), decoded.id == id
            else { throw ChunkStoreError.corrupt(id, reason: "bad header") }
            header = decoded
        } catch {
            throw ChunkStoreError.wrapping(error)
        }
        self.fileStatus = status
        layout = header.layout
        guard status.size >= layout.fileBytes else {
            throw .corrupt(id, reason: "file is \(status.size) bytes, its header needs \(layout.fileBytes)")
        }
        chunkBytes = layout.dataBytes
        chunkCRC32C = header.crc32c
        guard offset >= 0, offset <= chunkBytes else { throw .outOfRange(offset: offset, chunkBytes: chunkBytes) }
        self.offset = offset
        self.length = min(length ?? (chunkBytes - offset), chunkBytes - offset)
        position = offset

        // Only the checksum entries of the blocks this range touches.
        let blockBytes = Int64(layout.blockBytes)
        firstBlock = Int(offset / blockBytes)
        let endBlock = self.length == 0 ? firstBlock : Int((offset + self.length + blockBytes - 1) / blockBytes)
        nextReadOffset = Int64(firstBlock) * blockBytes
        readEndOffset = min(Int64(endBlock) * blockBytes, chunkBytes)
        if endBlock > firstBlock {
            let tableStart = layout.tableOffset + Int64(firstBlock * 4)
            let alignedStart = tableStart & ~4095
            let tableEnd = layout.tableOffset + Int64(endBlock * 4)
            let count = Int(ByteCount(tableEnd - alignedStart).roundedUp(toMultipleOf: 4096).bytes)
            precondition(count <= buffer.capacity, "checksum table slice larger than a slab")
            do {
                let read = try await engine.read(file, into: buffer, count: count, at: alignedStart)
                guard read >= Int(tableEnd - alignedStart) else {
                    throw ChunkStoreError.corrupt(id, reason: "checksum table is truncated")
                }
            } catch {
                throw ChunkStoreError.wrapping(error)
            }
            let bytes = buffer.bytes(Int(tableStart - alignedStart)..<Int(tableEnd - alignedStart))
            blockChecksums = (0..<(endBlock - firstBlock)).map { bytes.loadLittleEndian(UInt32.self, at: $0 * 4) }
        } else {
            blockChecksums = []
        }
    }

    deinit {
        precondition(closed, "ChunkReader dropped without close")
    }

    /// The next piece of the range as a copy, or nil at its end.
    package func next() async throws(ChunkStoreError) -> Data? {
        try await nextPiece().map { $0.data() }
    }

    /// The next piece of the range, verified, still in its slab: valid until the next call to
    /// `nextPiece`, `next` or `close`. Lets the transport copy once, slab → wire buffer.
    package func nextPiece() async throws(ChunkStoreError) -> ChunkPiece? {
        precondition(!closed, "next after close")
        guard position < offset + length else { return nil }
        if let (start, buffer) = current, position >= start + Int64(buffer.count) {
            engine.pool.release(buffer)
            current = nil
        }
        if current == nil {
            if pending.isEmpty { try await startRead(waiting: true) }
            let (start, task) = pending.removeFirst()
            let buffer: IOBuffer
            do {
                buffer = try await task.value
            } catch {
                throw ChunkStoreError.wrapping(error)
            }
            current = (start, buffer)
            do throws(ChunkStoreError) {
                try verify(buffer, dataOffset: start)
            } catch {
                if case .corrupt(_, let reason) = error {
                    await store.quarantine(id: id, file: fileStatus, reason: reason)
                }
                throw error
            }
        }
        // Read ahead while slabs are free.
        while pending.count < store.limits.readsAheadPerChunkMax, nextReadOffset < readEndOffset {
            guard try await startRead(waiting: false) else { break }
        }
        let (start, buffer) = current!
        let end = min(start + Int64(buffer.count), offset + length, position + Int64(store.limits.getChunkMessageBytes))
        let piece = ChunkPiece(buffer: buffer, range: Int(position - start)..<Int(end - start))
        position = end
        return piece
    }

    /// Starts reading the next slab. With `waiting` false it gives up (false) when no slab is free.
    @discardableResult
    private func startRead(waiting: Bool) async throws(ChunkStoreError) -> Bool {
        let buffer: IOBuffer
        if waiting {
            do {
                buffer = try await engine.pool.acquire()
            } catch {
                throw ChunkStoreError.wrapping(error)
            }
        } else {
            guard let free = engine.pool.tryAcquire() else { return false }
            buffer = free
        }
        let dataOffset = nextReadOffset
        let dataBytes = min(Int64(buffer.capacity), readEndOffset - dataOffset)
        nextReadOffset += dataBytes
        let count = Int(ByteCount(dataBytes).roundedUp(toMultipleOf: 4096).bytes)
        let engine = self.engine
        let file = self.descriptor
        let fileOffset = Int64(ChunkFileLayout.headerBytes) + dataOffset
        pending.append((dataOffset, Task {
            do {
                let read = try await engine.read(file, into: buffer, count: count, at: fileOffset)
                buffer.setLength(min(read, Int(dataBytes)))
                return buffer
            } catch {
                engine.pool.release(buffer)
                throw error
            }
        }))
        return true
    }

    /// Checks every block in a freshly read slab against the table.
    private func verify(_ buffer: IOBuffer, dataOffset: Int64) throws(ChunkStoreError) {
        let blockBytes = layout.blockBytes
        let firstInSlab = Int(dataOffset / Int64(blockBytes))
        var start = 0
        var block = firstInSlab
        while start < buffer.count {
            let expected = layout.bytes(inBlock: block)
            guard start + expected <= buffer.count else {
                throw .corrupt(id, reason: "block \(block) is truncated")
            }
            var crc = CRC32C()
            buffer.updateChecksum(&crc, range: start..<(start + expected))
            guard crc.value == blockChecksums[block - firstBlock] else {
                throw .corrupt(id, reason: "block \(block) fails its CRC32C")
            }
            start += expected
            block += 1
        }
    }

    /// Returns the slabs and closes the file. Safe after an error.
    package func close() async {
        guard !closed else { return }
        closed = true
        for (_, task) in pending {
            if let buffer = try? await task.value { engine.pool.release(buffer) }
        }
        pending.removeAll()
        if let (_, buffer) = current { engine.pool.release(buffer) }
        current = nil
        let file = self.descriptor
        _ = try? await engine.blocking { FileSystem.close(file) }
    }
}

/// A verified run of chunk bytes inside a pool slab, lent by `ChunkReader.nextPiece` until its next call.
package struct ChunkPiece: Sendable {
    let buffer: IOBuffer
    let range: Range<Int>

    package var count: Int { range.count }

    /// A copy of the bytes.
    package func data() -> Data { buffer.data(range) }

    /// Lends the bytes to `body`, which must not keep the pointer.
    package func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try buffer.withUnsafeBytes(range, body)
    }
}
