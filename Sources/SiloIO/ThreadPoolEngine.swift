import SiloCore

#if canImport(Glibc)
import Glibc
#endif

/// pread/pwrite on a fixed set of threads, with the same interface as the io_uring engine.
final class ThreadPoolEngine: IOEngine {
    let backend = IOBackend.threadPool
    let pool: BufferPool
    let usesRegisteredBuffers = false
    private let threads: BlockingPool

    init(limits: Limits) {
        pool = BufferPool(slabBytes: limits.bufferSlabBytes, slabCount: limits.bufferSlabCount)
        threads = BlockingPool(threadCount: limits.blockingThreadCount, name: "silo-io")
    }

    func read(_ file: DirectFile, into buffer: IOBuffer, count: Int, at offset: Int64) async throws -> Int {
        precondition(count <= buffer.capacity, "read larger than the buffer")
        return try await threads.run {
            var done = 0
            while done < count {
                let n = try systemCall("pread") {
                    pread(file.descriptor, buffer.base + done, count - done, off_t(offset) + off_t(done))
                }
                if n == 0 { break }
                done += n
            }
            buffer.setCount(done)
            return done
        }
    }

    func write(_ file: DirectFile, from buffer: IOBuffer, at offset: Int64) async throws {
        let write = IOWrite(buffer, 0..<buffer.count, at: offset)
        try await threads.run { try Self.writeFully(file, write) }
    }

    func writeAndSync(_ file: DirectFile, _ writes: [IOWrite]) async throws {
        try await threads.run {
            for write in writes { try Self.writeFully(file, write) }
            try FileSystem.sync(file)
        }
    }

    private static func writeFully(_ file: DirectFile, _ write: IOWrite) throws {
        let count = write.range.count
        let start = write.buffer.base + write.range.lowerBound
        var done = 0
        while done < count {
            let n = try systemCall("pwrite") {
                pwrite(file.descriptor, start + done, count - done, off_t(write.offset) + off_t(done))
            }
            if n == 0 { throw IOError("pwrite", errno: EIO) }  // no progress: never spin
            done += n
        }
    }

    func sync(_ file: DirectFile) async throws {
        try await threads.run { try FileSystem.sync(file) }
    }

    func blocking<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await threads.run(body)
    }

    func shutdown() { threads.shutdown() }
}
