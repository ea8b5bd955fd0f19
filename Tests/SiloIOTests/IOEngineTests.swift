import Foundation
import Logging
import SiloCore
import SiloIO
import SiloTestSupport
import Testing

/// Both backends must behave the same: every test runs on each.
@Suite struct IOEngineTests {
    static let backends: [IOBackendChoice] = [.ioUring, .threadPool]

    static func makeEngine(_ choice: IOBackendChoice) throws -> any IOEngine {
        var limits = Limits()
        limits.bufferSlabBytes = 64 << 10
        limits.checksumBlockBytes = 16 << 10
        limits.chunkBytesMax = 16 << 20
        limits.bufferSlabCount = 8
        return try IOEngines.make(choice, limits: limits, logger: { var l = Logger(label: "test"); l.logLevel = .warning; return l }())
    }

    @Test(arguments: backends)
    func writesAndReadsBackDirect(_ choice: IOBackendChoice) async throws {
        let directory = try TestDirectory()
        defer { directory.remove() }
        let engine = try Self.makeEngine(choice)
        defer { engine.shutdown() }
        #expect(engine.backend == (choice == .threadPool ? .threadPool : .ioUring))

        let path = directory.path + "/data"
        let file = try await engine.blocking { try FileSystem.open(path, .createDirect) }
        // Four slabs of distinct patterns, written concurrently at their offsets.
        let slab = engine.pool.slabBytes
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<4 {
                let buffer = try await engine.pool.acquire()
                buffer.append([UInt8](repeating: UInt8(index + 1), count: slab))
                group.addTask {
                    defer { engine.pool.release(buffer) }
                    try await engine.write(file, from: buffer, at: Int64(index * slab))
                }
            }
            try await group.waitForAll()
        }
        try await engine.sync(file)
        try await engine.blocking { FileSystem.close(file) }
        #expect(try FileSystem.size(path) == Int64(4 * slab))

        let reader = try await engine.blocking { try FileSystem.open(path, .readDirect) }
        let buffer = try await engine.pool.acquire()
        for index in 0..<4 {
            let read = try await engine.read(reader, into: buffer, count: slab, at: Int64(index * slab))
            #expect(read == slab)
            #expect(buffer.bytes(0..<slab).allSatisfy { $0 == UInt8(index + 1) })
        }
        // A read past the end stops at end of file instead of failing or spinning.
        let tail = try await engine.read(reader, into: buffer, count: slab, at: Int64(3 * slab + 4096))
        #expect(tail == slab - 4096)
        let beyond = try await engine.read(reader, into: buffer, count: 4096, at: Int64(8 * slab))
        #expect(beyond == 0)
        engine.pool.release(buffer)
        try await engine.blocking { FileSystem.close(reader) }
    }

    @Test(arguments: backends)
    func writesABatchThenSyncs(_ choice: IOBackendChoice) async throws {
        let directory = try TestDirectory()
        defer { directory.remove() }
        let engine = try Self.makeEngine(choice)
        defer { engine.shutdown() }
        let path = directory.path + "/batch"
        let file = try await engine.blocking { try FileSystem.open(path, .createDirect) }
        // Three regions of one slab go to three places in the file, out of order.
        let buffer = try await engine.pool.acquire()
        buffer.append([UInt8](repeating: 0xA1, count: 4096))
        buffer.append([UInt8](repeating: 0xB2, count: 8192))
        buffer.append([UInt8](repeating: 0xC3, count: 4096))
        try await engine.writeAndSync(file, [
            IOWrite(buffer, 4096..<12288, at: 16384),
            IOWrite(buffer, 12288..<16384, at: 0),
            IOWrite(buffer, 0..<4096, at: 4096),
        ])
        try await engine.blocking { FileSystem.close(file) }
        #expect(try FileSystem.size(path) == 24576)
        let reader = try await engine.blocking { try FileSystem.open(path, .readDirect) }
        buffer.reset()
        #expect(try await engine.read(reader, into: buffer, count: 24576, at: 0) == 24576)
        let bytes = buffer.bytes(0..<24576)
        #expect(bytes[0..<4096].allSatisfy { $0 == 0xC3 })
        #expect(bytes[4096..<8192].allSatisfy { $0 == 0xA1 })
        #expect(bytes[8192..<16384].allSatisfy { $0 == 0 }, "a hole stays zero")
        #expect(bytes[16384..<24576].allSatisfy { $0 == 0xB2 })
        engine.pool.release(buffer)
        try await engine.blocking { FileSystem.close(reader) }
    }

    @Test(arguments: backends)
    func errorsAreTyped(_ choice: IOBackendChoice) async throws {
        let directory = try TestDirectory()
        defer { directory.remove() }
        let engine = try Self.makeEngine(choice)
        defer { engine.shutdown() }
        let missing = directory.path + "/missing"
        await #expect { try await engine.blocking { try FileSystem.open(missing, .readDirect) } } throws: { error in
            (error as? IOError)?.isNotFound == true
        }
        // O_DIRECT rejects an unaligned offset: the error comes back as an IOError, not a crash.
        let path = directory.path + "/f"
        let file = try await engine.blocking { try FileSystem.open(path, .createDirect) }
        let buffer = try await engine.pool.acquire()
        buffer.zeroFill(upTo: 4096)
        await #expect(throws: IOError.self) { try await engine.write(file, from: buffer, at: 1) }
        engine.pool.release(buffer)
        try await engine.blocking { FileSystem.close(file) }
    }

    @Test func renameRefusesToReplace() throws {
        let directory = try TestDirectory()
        defer { directory.remove() }
        _ = FileManager.default.createFile(atPath: directory.path + "/a", contents: Data([1]))
        _ = FileManager.default.createFile(atPath: directory.path + "/b", contents: Data([2]))
        #expect { try FileSystem.renameNoReplace(directory.path + "/a", to: directory.path + "/b") } throws: {
            ($0 as? IOError)?.isAlreadyExists == true
        }
        try FileSystem.renameNoReplace(directory.path + "/a", to: directory.path + "/c")
        #expect(try FileSystem.size(directory.path + "/a") == nil)
        #expect(try FileSystem.size(directory.path + "/c") == 1)
    }
}
