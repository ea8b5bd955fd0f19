import Foundation
import Logging
import SiloCore
import SiloIO
import SiloTestSupport
import Testing

@testable import SiloStorage

/// A store in a fresh directory with small slabs and blocks, so a few hundred KiB cross many of each.
struct StoreFixture {
    let directory: TestDirectory
    let engine: any IOEngine
    let store: ChunkStore
    let choice: IOBackendChoice

    static let limits: Limits = {
        var limits = Limits()
        limits.bufferSlabBytes = 64 << 10
        limits.checksumBlockBytes = 16 << 10
        limits.chunkBytesMax = 16 << 20
        limits.bufferSlabCount = 8
        limits.getChunkMessageBytes = 24 << 10
        return limits
    }()

    init(_ choice: IOBackendChoice, capacityBytes: Int64 = 0, directory: TestDirectory? = nil,
         limits: Limits = StoreFixture.limits) async throws {
        self.choice = choice
        self.directory = try directory ?? TestDirectory()
        engine = try IOEngines.make(choice, limits: limits, logger: quietLogger)
        do {
            store = try await ChunkStore.open(directory: self.directory.path + "/data", engine: engine,
                                              limits: limits, capacityBytes: capacityBytes,
                                              logger: quietLogger)
        } catch {
            engine.shutdown()
            throw error
        }
    }

    func close(removing: Bool = true) {
        engine.shutdown()
        if removing { directory.remove() }
    }

    /// Puts `data` in pieces of `pieceBytes`.
    @discardableResult
    func put(_ id: String, _ data: Data, crc: UInt32? = nil, declaredSize: Int64? = nil, pieceBytes: Int = 10_000)
        async throws(ChunkStoreError) -> (size: Int64, crc32c: UInt32)
    {
        let writer = try await store.beginPut(id: try! ChunkID(id), size: declaredSize ?? Int64(data.count),
                                              crc32c: crc)
        do {
            var start = 0
            while start < data.count {
                let end = min(data.count, start + pieceBytes)
                try await writer.append(data.subdata(in: start..<end))
                start = end
            }
            return try await writer.commit()
        } catch {
            await writer.abort()
            throw error
        }
    }

    func get(_ id: String, offset: Int64 = 0, length: Int64? = nil) async throws(ChunkStoreError) -> Data {
        let reader = try await store.openRead(id: try! ChunkID(id), offset: offset, length: length)
        var result = Data()
        do {
            while let piece = try await reader.next() {
                #expect(piece.count <= Self.limits.getChunkMessageBytes)
                result.append(piece)
            }
        } catch {
            await reader.close()
            throw error
        }
        await reader.close()
        return result
    }

    var temporaryFiles: [String] { (try? FileSystem.list(store.tmpDirectory)) ?? [] }
}

/// Tests log only what would matter to a reader of a failure.
let quietLogger: Logger = {
    var logger = Logger(label: "test")
    logger.logLevel = .warning
    return logger
}()

func randomData(_ count: Int) -> Data {
    var generator = SystemRandomNumberGenerator()
    var data = Data(count: count)
    data.withUnsafeMutableBytes { raw in
        var index = 0
        while index + 8 <= count {
            raw.storeBytes(of: generator.next(), toByteOffset: index, as: UInt64.self)
            index += 8
        }
        while index < count { raw[index] = UInt8.random(in: 0...255); index += 1 }
    }
    return data
}

@Suite struct ChunkStoreTests {
    static let backends: [IOBackendChoice] = [.ioUring, .threadPool]

    @Test(arguments: backends)
    func writesAndReadsWholeChunks(_ choice: IOBackendChoice) async throws {
        let fixture = try await StoreFixture(choice)
        defer { fixture.close() }
        for size in [0, 1, 4095, 4096, 16 << 10, (64 << 10) + 1, 300_001] {
            let data = randomData(size)
            let result = try await fixture.put("chunk-\(size)", data)
            #expect(result.size == Int64(size))
            #expect(result.crc32c == CRC32C.checksum(data))
            #expect(try await fixture.get("chunk-\(size)") == data, "size \(size)")
        }
        let status = try await fixture.store.status()
        #expect(status.chunkCount == 7)
        #expect(status.backend == (choice == .threadPool ? .threadPool : .ioUring))
        #expect(fixture.temporaryFiles.isEmpty)
    }

    @Test(arguments: backends)
    func readsRanges(_ choice: IOBackendChoice) async throws {
        let fixture = try await StoreFixture(choice)
        defer { fixture.close() }
        let data = randomData(200_000)
        try await fixture.put("ranged", data)
        var generator = SystemRandomNumberGenerator()
        var cases: [(Int, Int?)] = [(0, nil), (0, 1), (4095, 2), (16383, 2), (65535, 2), (199_999, nil),
                                    (200_000, nil), (100, 1_000_000)]
        for _ in 0..<40 {
            let start = Int.random(in: 0..<200_000, using: &generator)
            cases.append((start, Int.random(in: 1...(200_000 - start), using: &generator)))
        }
        for (start, length) in cases {
            let got = try await fixture.get("ranged", offset: Int64(start), length: length.map(Int64.init))
            let end = min(200_000, start + (length ?? 200_000))
            #expect(got == data.subdata(in: start..<end), "range \(start) +\(length ?? -1)")
        }
        await #expect(throws: ChunkStoreError.outOfRange(offset: 200_001, chunkBytes: 200_000)) {
            _ = try await fixture.get("ranged", offset: 200_001)
        }
    }

    @Test(arguments: backends)
    func deletesIdempotently(_ choice: IOBackendChoice) async throws {
        let fixture = try await StoreFixture(choice)
        defer { fixture.close() }
        try await fixture.put("gone", randomData(5000))
        let path = fixture.store.path(of: try ChunkID("gone"))
        #expect(try FileSystem.size(path) != nil)
        #expect(try await fixture.store.delete(id: ChunkID("gone")) == true)
        #expect(try FileSystem.size(path) == nil)
        #expect(try await fixture.store.delete(id: ChunkID("gone")) == false)
        await #expect(throws: ChunkStoreError.notFound(try ChunkID("gone"))) { _ = try await fixture.get("gone") }
        let status = try await fixture.store.status()
        #expect(status.chunkCount == 0 && status.bytesStored == 0)
    }

    @Test(arguments: backends)
    func chunksAreWriteOnce(_ choice: IOBackendChoice) async throws {
        let fixture = try await StoreFixture(choice)
        defer { fixture.close() }
        let original = randomData(70_000)
        try await fixture.put("once", original)
        await #expect(throws: ChunkStoreError.alreadyExists(try ChunkID("once"))) {
            try await fixture.put("once", randomData(10))
        }
        // Two writers that both started before either committed: exactly one wins.
        let id = try ChunkID("raced")
        let first = try await fixture.store.beginPut(id: id, size: 3, crc32c: nil)
        let second = try await fixture.store.beginPut(id: id, size: 3, crc32c: nil)
        try await first.append(Data([1, 2, 3]))
        try await second.append(Data([4, 5, 6]))
        try await first.commit()
        await #expect(throws: ChunkStoreError.alreadyExists(id)) { try await second.commit() }
        #expect(try await fixture.get("raced") == Data([1, 2, 3]))
        #expect(try await fixture.get("once") == original)
        #expect(fixture.temporaryFiles.isEmpty, "the loser's temporary file is removed")
    }

    @Test(arguments: backends)
    func rejectsMismatchedUploadsKeepingNothing(_ choice: IOBackendChoice) async throws {
        let fixture = try await StoreFixture(choice)
        defer { fixture.close() }
        let data = randomData(100_000)
        await #expect(throws: ChunkStoreError.sizeMismatch(declared: 100_001, received: 100_000)) {
            try await fixture.put("short", data, declaredSize: 100_001)
        }
        await #expect(throws: ChunkStoreError.self) { try await fixture.put("long", data, declaredSize: 99_999) }
        let wrong = CRC32C.checksum(data) ^ 1
        await #expect(throws: ChunkStoreError.checksumMismatch(declared: wrong, computed: CRC32C.checksum(data))) {
            try await fixture.put("badcrc", data, crc: wrong)
        }
        for id in ["short", "long", "badcrc"] {
            await #expect(throws: ChunkStoreError.notFound(try ChunkID(id))) { _ = try await fixture.get(id) }
        }
        #expect(fixture.temporaryFiles.isEmpty)
        let status = try await fixture.store.status()
        #expect(status.chunkCount == 0 && status.bytesStored == 0)
        // The ids stay usable.
        try await fixture.put("badcrc", data, crc: CRC32C.checksum(data))
        #expect(try await fixture.get("badcrc") == data)
    }

    @Test(arguments: backends)
    func detectsCorruption(_ choice: IOBackendChoice) async throws {
        let fixture = try await StoreFixture(choice)
        defer { fixture.close() }
        let data = randomData(100_000)
        try await fixture.put("rot", data)
        try await fixture.put("rothead", data)
        let path = fixture.store.path(of: try ChunkID("rot"))
        try flipByte(in: path, at: 4096 + 50_000)
        // Ranges that do not touch the damaged block are served: nothing has noticed the damage yet.
        #expect(try await fixture.get("rot", offset: 0, length: 40_000) == data.subdata(in: 0..<40_000))
        await #expect(throws: ChunkStoreError.corrupt(try ChunkID("rot"), reason: "block 3 fails its CRC32C")) {
            _ = try await fixture.get("rot")
        }
        // Found bad: quarantined, never served again, not even the ranges that were fine.
        await #expect(throws: ChunkStoreError.notFound(try ChunkID("rot"))) {
            _ = try await fixture.get("rot", offset: 0, length: 40_000)
        }
        #expect(try FileSystem.size(path) == nil)
        #expect(try FileSystem.size(fixture.store.quarantinePath(of: ChunkID("rot"))) != nil)
        try flipByte(in: fixture.store.path(of: try ChunkID("rothead")), at: 20)
        await #expect(throws: ChunkStoreError.corrupt(try ChunkID("rothead"), reason: "bad header")) {
            _ = try await fixture.get("rothead")
        }
        await #expect(throws: ChunkStoreError.notFound(try ChunkID("rothead"))) { _ = try await fixture.get("rothead") }
        let status = try await fixture.store.status()
        #expect(status.chunkCount == 0 && status.bytesStored == 0)
        #expect(try Set(status.quarantinedChunkIDs) == [ChunkID("rot"), ChunkID("rothead")])
        #expect(status.quarantinedCount == 2)
    }

    @Test(arguments: backends)
    func startUpRemovesLeftoversAndRecounts(_ choice: IOBackendChoice) async throws {
        let fixture = try await StoreFixture(choice)
        try await fixture.put("kept", randomData(9000))
        let before = try await fixture.store.status()
        let leftover = fixture.store.tmpDirectory + "/interrupted.upload"
        #expect(FileManager.default.createFile(atPath: leftover, contents: Data(count: 8192)))
        fixture.close(removing: false)

        let reopened = try await StoreFixture(choice, directory: fixture.directory)
        defer { reopened.close() }
        #expect(reopened.temporaryFiles.isEmpty)
        let after = try await reopened.store.status()
        #expect(after.chunkCount == before.chunkCount && after.bytesStored == before.bytesStored)
        #expect(after.chunkCount == 1)
    }

    @Test(arguments: backends)
    func refusesUploadsOverCapacity(_ choice: IOBackendChoice) async throws {
        let fixture = try await StoreFixture(choice, capacityBytes: 64 << 10)
        defer { fixture.close() }
        await #expect {
            try await fixture.put("big", randomData(100_000))
        } throws: { error in
            if case .noSpace = error as? ChunkStoreError { return true }
            return false
        }
        #expect(fixture.temporaryFiles.isEmpty)
        #expect(try await fixture.store.status().bytesStored == 0)
        try await fixture.put("fits", randomData(30_000))
        #expect(try await fixture.store.status().chunkCount == 1)
    }

    @Test func fileLayoutMatchesFormat() throws {
        let layout = ChunkFileLayout(dataBytes: 300_001, blockBytes: 16 << 10)
        #expect(layout.blockCount == 19)
        #expect(layout.paddedDataBytes == 303_104)
        #expect(layout.tableOffset == 4096 + 303_104)
        #expect(layout.fileBytes == 4096 + 303_104 + 4096)
        let header = ChunkFileHeader(id: try ChunkID("abc"), layout: layout, crc32c: 0xDEAD_BEEF)
        let bytes = header.encoded()
        #expect(bytes.count == 4096)
        #expect(Array(bytes[0..<8]) == Array("SILOCHNK".utf8))
        #expect(ChunkFileHeader(decoding: bytes) == header)
        var damaged = bytes
        damaged[100] ^= 1
        #expect(ChunkFileHeader(decoding: damaged) == nil)
    }
}

func flipByte(in path: String, at offset: UInt64) throws {
    let handle = try FileHandle(forUpdating: URL(fileURLWithPath: path))
    defer { try? handle.close() }
    try handle.seek(toOffset: offset)
    let byte = try handle.read(upToCount: 1)![0]
    try handle.seek(toOffset: offset)
    try handle.write(contentsOf: Data([byte ^ 0xff]))
    try handle.synchronize()
}
