import CLibURing
import Dispatch
import Foundation
import Logging
import SiloCore
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// io_uring driven by one completion thread.
///
/// Submitters prepare SQEs under `submissionLock` and submit; the completion thread alone reaps CQEs
/// (liburing allows one submitting side and one reaping side on different threads). It drains every ready
/// CQE first, advances the ring once, then resumes the waiting tasks. Each SQE's user_data is a retained
/// `Completion` box whose continuation the completion thread resumes; user_data 0 is the shutdown NOP.
final class URingEngine: IOEngine {
    let backend = IOBackend.ioUring
    let pool: BufferPool
    let usesRegisteredBuffers: Bool
    private let ring: RingHandle
    private let submissionLock = Mutex<Void>(())
    private let blockingThreads: BlockingPool
    private let completionsDone = DispatchSemaphore(value: 0)
    private let stopped = Atomic<Bool>(false)

    /// The ring pointer crosses to the completion thread; the SQ side is used only under
    /// `submissionLock`, the CQ side only on the completion thread.
    private struct RingHandle: @unchecked Sendable {
        let pointer: UnsafeMutablePointer<io_uring>
    }

    /// What the completion thread runs for one CQE. Created before submission and called exactly once, on
    /// the completion thread only: that confinement is why `@unchecked Sendable` holds.
    private final class Completion: @unchecked Sendable {
        let complete: (Int32) -> Void
        init(_ complete: @escaping (Int32) -> Void) { self.complete = complete }
    }

    /// Results of a linked batch, filled by the completion thread; resumes its waiter on the last CQE.
    private final class BatchResults: @unchecked Sendable {
        var results: [Int32]
        var remaining: Int
        let continuation: CheckedContinuation<[Int32], Never>
        init(count: Int, continuation: CheckedContinuation<[Int32], Never>) {
            results = Array(repeating: 0, count: count)
            remaining = count
            self.continuation = continuation
        }
    }

    init(limits: Limits, logger: Logger) throws {
        let pointer = UnsafeMutablePointer<io_uring>.allocate(capacity: 1)
        pointer.initialize(to: io_uring())
        var params = io_uring_params()
        let result = io_uring_queue_init_params(UInt32(limits.ringEntries), pointer, &params)
        guard result == 0 else {
            pointer.deallocate()
            throw IOError("io_uring_setup", errno: -result)
        }
        let ring = RingHandle(pointer: pointer)
        self.ring = ring

        // The pool is allocated by the completion thread, so libnuma places it on that thread's node.
        let made = Mutex<BufferPool?>(nil)
        let ready = DispatchSemaphore(value: 0)
        let done = completionsDone
        let thread = Thread {
            made.withLock {
                $0 = BufferPool(slabBytes: limits.bufferSlabBytes, slabCount: limits.bufferSlabCount)
            }
            ready.signal()
            URingEngine.reapCompletions(ring)
            done.signal()
        }
        thread.name = "silo-uring"
        thread.start()
        ready.wait()
        let pool = made.withLock { $0! }
        self.pool = pool

        let iovecs = pool.iovecs()
        let registered = iovecs.withUnsafeBufferPointer {
            io_uring_register_buffers(pointer, $0.baseAddress, UInt32($0.count))
        }
        if registered == 0 {
            usesRegisteredBuffers = true
        } else {
            usesRegisteredBuffers = false
            logger.warning("""
                io_uring buffer registration refused (\(IOError("io_uring_register_buffers", errno: -registered))); \
                using unregistered buffers. Raise RLIMIT_MEMLOCK (ulimit -l) above \
                \(ByteCount(pool.slabBytes * pool.slabCount)) to register them.
                """)
        }
        blockingThreads = BlockingPool(threadCount: max(1, limits.blockingThreadCount / 2), name: "silo-fs")
    }

    private static func reapCompletions(_ ring: RingHandle) {
        let batchMax = 64
        var cqes = [UnsafeMutablePointer<io_uring_cqe>?](repeating: nil, count: batchMax)
        var ready: [(UInt64, Int32)] = []
        ready.reserveCapacity(batchMax)
        var stopping = false
        while !stopping {
            var first: UnsafeMutablePointer<io_uring_cqe>? = nil
            let waited = io_uring_wait_cqe(ring.pointer, &first)
            if waited == -EINTR { continue }
            precondition(waited == 0, "io_uring_wait_cqe failed: \(waited)")
            let count = cqes.withUnsafeMutableBufferPointer {
                Int(io_uring_peek_batch_cqe(ring.pointer, $0.baseAddress, UInt32(batchMax)))
            }
            ready.removeAll(keepingCapacity: true)
            for index in 0..<count {
                let cqe = cqes[index]!.pointee
                ready.append((cqe.user_data, cqe.res))
            }
            io_uring_cq_advance(ring.pointer, UInt32(count))
            for (userData, result) in ready {
                if userData == 0 { stopping = true; continue }
                let completion = Unmanaged<Completion>.fromOpaque(UnsafeRawPointer(bitPattern: UInt(userData))!)
                    .takeRetainedValue()
                completion.complete(result)
            }
        }
    }

    /// Prepares one SQE with `prepare`, submits it, and returns its CQE's result.
    private func submit(_ prepare: @escaping (UnsafeMutablePointer<io_uring_sqe>) -> Void) async -> Int32 {
        await withCheckedContinuation { continuation in
            let completion = Unmanaged.passRetained(Completion { continuation.resume(returning: $0) }).toOpaque()
            submissionLock.withLock { _ in
                let sqe = nextSubmissionEntry()
                prepare(sqe)
                io_uring_sqe_set_data(sqe, completion)
                submitPending()
            }
        }
    }

    /// Prepares `count` SQEs linked in order (each starts when the previous one succeeded), submits them
    /// with one system call, and returns every CQE's result in order. After a failed or short link the
    /// rest come back -ECANCELED.
    private func submitLinked(count: Int, _ prepare: @escaping (Int, UnsafeMutablePointer<io_uring_sqe>) -> Void)
        async -> [Int32]
    {
        precondition(count > 0 && count <= Int(ring.pointer.pointee.sq.ring_entries), "batch larger than the ring")
        return await withCheckedContinuation { continuation in
            let batch = BatchResults(count: count, continuation: continuation)
            submissionLock.withLock { _ in
                // A chain must not be split across submissions: make room for all of it first.
                while io_uring_sq_space_left(ring.pointer) < UInt32(count) { submitPending() }
                for index in 0..<count {
                    let sqe = nextSubmissionEntry()
                    prepare(index, sqe)
                    if index < count - 1 { sqe.pointee.flags |= UInt8(1 << IOSQE_IO_LINK_BIT) }
                    let completion = Completion { result in
                        batch.results[index] = result
                        batch.remaining -= 1
                        if batch.remaining == 0 { batch.continuation.resume(returning: batch.results) }
                    }
                    io_uring_sqe_set_data(sqe, Unmanaged.passRetained(completion).toOpaque())
                }
                submitPending()
            }
        }
    }

    /// A free SQE, submitting what is queued when the submission ring is full. Caller holds the lock.
    private func nextSubmissionEntry() -> UnsafeMutablePointer<io_uring_sqe> {
        while true {
            if let sqe = io_uring_get_sqe(ring.pointer) { return sqe }
            submitPending()
        }
    }

    /// Caller holds the lock.
    private func submitPending() {
        while true {
            let submitted = io_uring_submit(ring.pointer)
            if submitted >= 0 { return }
            if submitted == -EINTR || submitted == -EAGAIN || submitted == -EBUSY { continue }
            preconditionFailure("io_uring_submit failed: \(submitted)")
        }
    }

    func read(_ file: DirectFile, into buffer: IOBuffer, count: Int, at offset: Int64) async throws -> Int {
        precondition(count <= buffer.capacity, "read larger than the buffer")
        var done = 0
        while done < count {
            let target = buffer.base + done
            let length = UInt32(count - done)
            let position = UInt64(offset) + UInt64(done)
            let fixed = usesRegisteredBuffers
            let index = Int32(buffer.index)
            let result = await submit { sqe in
                if fixed {
                    io_uring_prep_read_fixed(sqe, file.descriptor, target, length, position, index)
                } else {
                    io_uring_prep_read(sqe, file.descriptor, target, length, position)
                }
            }
            if result == -EINTR || result == -EAGAIN { continue }
            if result < 0 { throw IOError("read", errno: -result) }
            if result == 0 { break }  // end of file
            done += Int(result)  // a short read is resubmitted for the rest
        }
        buffer.setCount(done)
        return done
    }

    func write(_ file: DirectFile, from buffer: IOBuffer, at offset: Int64) async throws {
        try await write(file, IOWrite(buffer, 0..<buffer.count, at: offset), alreadyDone: 0)
    }

    /// Writes what is left of `write` after its first `alreadyDone` bytes, resubmitting short writes.
    private func write(_ file: DirectFile, _ write: IOWrite, alreadyDone: Int) async throws {
        let buffer = write.buffer
        let count = write.range.count
        let offset = write.offset
        var done = alreadyDone
        while done < count {
            let source = buffer.base + write.range.lowerBound + done
            let length = UInt32(count - done)
            let position = UInt64(offset) + UInt64(done)
            let fixed = usesRegisteredBuffers
            let index = Int32(buffer.index)
            let result = await submit { sqe in
                if fixed {
                    io_uring_prep_write_fixed(sqe, file.descriptor, source, length, position, index)
                } else {
                    io_uring_prep_write(sqe, file.descriptor, source, length, position)
                }
            }
            if result == -EINTR || result == -EAGAIN { continue }
            if result < 0 { throw IOError("write", errno: -result) }
            if result == 0 { throw IOError("write", errno: EIO) }  // no progress: never spin
            done += Int(result)  // a short write is resubmitted for the rest
        }
    }

    func sync(_ file: DirectFile) async throws {
        while true {
            let result = await submit { sqe in io_uring_prep_fsync(sqe, file.descriptor, 0) }
            if result == -EINTR || result == -EAGAIN { continue }
            if result < 0 { throw IOError("fsync", errno: -result) }
            return
        }
    }

    func writeAndSync(_ file: DirectFile, _ writes: [IOWrite]) async throws {
        let fixed = usesRegisteredBuffers
        let results = await submitLinked(count: writes.count + 1) { index, sqe in
            guard index < writes.count else {
                io_uring_prep_fsync(sqe, file.descriptor, 0)
                return
            }
            let write = writes[index]
            let source = write.buffer.base + write.range.lowerBound
            let length = UInt32(write.range.count)
            if fixed {
                io_uring_prep_write_fixed(sqe, file.descriptor, source, length, UInt64(write.offset),
                                          Int32(write.buffer.index))
            } else {
                io_uring_prep_write(sqe, file.descriptor, source, length, UInt64(write.offset))
            }
        }
        // A short or cancelled link is finished on its own; any other failure is the answer.
        var needsSync = false
        for (write, result) in zip(writes, results) where result != Int32(write.range.count) {
            if result < 0, result != -ECANCELED, result != -EINTR, result != -EAGAIN {
                throw IOError("write", errno: -result)
            }
            try await self.write(file, write, alreadyDone: max(0, Int(result)))
            needsSync = true
        }
        let synced = results[writes.count]
        if synced < 0, synced != -ECANCELED, synced != -EINTR, synced != -EAGAIN {
            throw IOError("fsync", errno: -synced)
        }
        if needsSync || synced < 0 { try await sync(file) }
    }

    func blocking<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await blockingThreads.run(body)
    }

    func shutdown() {
        guard !stopped.exchange(true, ordering: .relaxed) else { return }
        submissionLock.withLock { _ in
            let sqe = nextSubmissionEntry()
            io_uring_prep_nop(sqe)
            io_uring_sqe_set_data64(sqe, 0)
            submitPending()
        }
        completionsDone.wait()
        blockingThreads.shutdown()
    }

    deinit {
        if !stopped.load(ordering: .relaxed) { shutdown() }
        io_uring_queue_exit(ring.pointer)
        ring.pointer.deallocate()
    }
}
