import Logging
import SiloCore

/// Which implementation moves the bytes.
package enum IOBackend: String, Sendable {
    /// io_uring with (when the memlock limit allows) registered buffers.
    case ioUring = "io_uring"
    /// pread/pwrite on a fixed set of threads: where io_uring_setup is refused (containers, seccomp).
    case threadPool = "threadpool"
}

/// What the operator asked for: `auto` tries io_uring and falls back loudly.
package enum IOBackendChoice: String, Sendable, CaseIterable {
    case auto
    case ioUring = "io-uring"
    case threadPool = "thread-pool"
}

/// Asynchronous file I/O on pool buffers. The caller owns the buffer and the file until the call returns;
/// the engine never allocates on the data path.
///
/// Offsets and counts on O_DIRECT files must be multiples of 4096; pool buffers are 4096-aligned.
package protocol IOEngine: AnyObject, Sendable {
    var backend: IOBackend { get }
    var pool: BufferPool { get }
    /// True when the pool's slabs are registered with the ring (fixed-buffer reads and writes).
    var usesRegisteredBuffers: Bool { get }

    /// Reads `count` bytes at `offset` into the start of `buffer`, resubmitting short reads until `count`
    /// bytes or end of file; sets `buffer.count` and returns it.
    func read(_ file: DirectFile, into buffer: IOBuffer, count: Int, at offset: Int64) async throws -> Int

    /// Writes all of `buffer`'s valid bytes at `offset`, resubmitting short writes.
    func write(_ file: DirectFile, from buffer: IOBuffer, at offset: Int64) async throws

    /// fsync.
    func sync(_ file: DirectFile) async throws

    /// Writes each piece in order, then fsyncs the file. On io_uring the whole batch is prepared first and
    /// submitted at once as a chain of linked SQEs (one system call); pieces that come back short or
    /// cancelled are finished one by one.
    func writeAndSync(_ file: DirectFile, _ writes: [IOWrite]) async throws

    /// Runs a blocking system call (open, rename, unlink, stat…) on the engine's blocking threads.
    func blocking<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T

    /// Stops the engine's threads. No call may be in flight.
    func shutdown()
}

/// One write of a batch: `range` of `buffer`'s valid bytes to `offset` in the file.
package struct IOWrite: Sendable {
    package let buffer: IOBuffer
    package let range: Range<Int>
    package let offset: Int64

    package init(_ buffer: IOBuffer, _ range: Range<Int>, at offset: Int64) {
        precondition(range.lowerBound >= 0 && range.upperBound <= buffer.count, "write range outside the data")
        self.buffer = buffer
        self.range = range
        self.offset = offset
    }
}

package enum IOEngines {
    /// The engine for `choice`. `auto` prefers io_uring and falls back to the thread pool, with a warning,
    /// when the kernel or a sandbox refuses io_uring_setup.
    package static func make(_ choice: IOBackendChoice, limits: Limits, logger: Logger) throws -> any IOEngine {
        try limits.validate()
        switch choice {
        case .threadPool:
            return ThreadPoolEngine(limits: limits)
        case .ioUring:
            return try URingEngine(limits: limits, logger: logger)
        case .auto:
            do {
                return try URingEngine(limits: limits, logger: logger)
            } catch {
                logger.warning("""
                    io_uring is unavailable (\(error)); FALLING BACK to the pread/pwrite thread-pool backend. \
                    Throughput will be lower; HealthCheck reports io_backend=threadpool.
                    """)
                return ThreadPoolEngine(limits: limits)
            }
        }
    }
}
