import CNuma
import CSiloShims
import Logging
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A fixed set of 4 KiB-aligned slabs, allocated once at start-up on one NUMA node and never grown.
///
/// `acquire` waits (first come, first served) while every slab is leased: that wait is the back-pressure
/// that bounds a node's I/O memory to `slabBytes × slabCount` whatever the number of streams. To avoid
/// deadlock, a caller that already holds a slab only ever uses `tryAcquire` for a second one.
package final class BufferPool: Sendable {
    package let slabBytes: Int
    package let slabCount: Int
    /// The NUMA node the memory lives on, or nil when libnuma is unavailable.
    package let numaNode: Int?

    // Leases are tracked under `state`; the buffers' memory itself is owned by one leaseholder at a time.
    private let buffers: [IOBuffer]
    nonisolated(unsafe) private let memory: UnsafeMutableRawPointer
    private let memoryBytes: Int
    private let state: Mutex<State>

    private struct Waiter {
        let id: UInt64
        let continuation: CheckedContinuation<IOBuffer, any Error>
    }

    private struct State {
        var free: [Int]
        var waiters: [Waiter] = []
        var waiterHead = 0
        var nextWaiterID: UInt64 = 0
    }

    /// Allocates `slabCount` slabs of `slabBytes` (a multiple of 4096) on `numaNode` (nil: the caller's node).
    package init(slabBytes: Int, slabCount: Int, numaNode requestedNode: Int? = nil) {
        precondition(slabBytes > 0 && slabBytes % 4096 == 0, "slabs must be a positive multiple of 4096")
        precondition(slabCount > 0, "a pool needs at least one slab")
        self.slabBytes = slabBytes
        self.slabCount = slabCount
        let total = slabBytes * slabCount
        self.memoryBytes = total

        var node: Int? = nil
        var pointer: UnsafeMutableRawPointer? = nil
        if numa_available() >= 0 {
            let chosen = requestedNode ?? Int(max(0, numa_node_of_cpu(max(0, silo_current_cpu()))))
            pointer = numa_alloc_onnode(total, Int32(chosen))
            if pointer != nil { node = chosen }
        }
        if pointer == nil {
            var aligned: UnsafeMutableRawPointer? = nil
            precondition(posix_memalign(&aligned, 4096, total) == 0, "cannot allocate the buffer pool")
            pointer = aligned
        }
        self.memory = pointer!
        self.numaNode = node
        self.buffers = (0..<slabCount).map {
            IOBuffer(index: $0, base: pointer! + $0 * slabBytes, capacity: slabBytes)
        }
        self.state = Mutex(State(free: Array((0..<slabCount).reversed())))
    }

    deinit {
        if numaNode != nil { numa_free(memory, memoryBytes) } else { free(memory) }
    }

    /// Slabs not leased right now.
    package var freeCount: Int { state.withLock { $0.free.count } }

    /// A free slab, or nil at once when none is free.
    package func tryAcquire() -> IOBuffer? {
        state.withLock { state -> IOBuffer? in
            guard state.waiters.count == state.waiterHead, let index = state.free.popLast() else { return nil }
            return lease(index, &state)
        }
    }

    /// A free slab, waiting for one to be released when all are leased. Throws `CancellationError` when
    /// the task is cancelled while it waits.
    package func acquire() async throws -> IOBuffer {
        if let buffer = tryAcquire() { return buffer }
        let id = state.withLock { state -> UInt64 in
            state.nextWaiterID += 1
            return state.nextWaiterID
        }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                let immediate = state.withLock { state -> IOBuffer? in
                    if state.waiters.count == state.waiterHead, let index = state.free.popLast() {
                        return lease(index, &state)
                    }
                    state.waiters.append(Waiter(id: id, continuation: continuation))
                    return nil
                }
                if let immediate { continuation.resume(returning: immediate) }
            }
        } onCancel: {
            let cancelled = state.withLock { state -> Waiter? in
                guard let position = state.waiters[state.waiterHead...].firstIndex(where: { $0.id == id })
                else { return nil }
                return state.waiters.remove(at: position)
            }
            cancelled?.continuation.resume(throwing: CancellationError())
        }
    }

    /// Gives a slab back. Releasing a buffer that is not leased is a programmer error and crashes.
    package func release(_ buffer: IOBuffer) {
        precondition(buffer.index < slabCount && buffers[buffer.index] === buffer, "buffer from another pool")
        let handoff = state.withLock { state -> (Waiter, IOBuffer)? in
            precondition(buffer.isLeased, "double release of I/O buffer \(buffer.index)")
            buffer.isLeased = false
            if state.waiterHead < state.waiters.count {
                let waiter = state.waiters[state.waiterHead]
                state.waiterHead += 1
                if state.waiterHead == state.waiters.count {
                    state.waiters.removeAll(keepingCapacity: true)
                    state.waiterHead = 0
                }
                return (waiter, lease(buffer.index, &state))
            }
            state.free.append(buffer.index)
            return nil
        }
        if let (waiter, next) = handoff { waiter.continuation.resume(returning: next) }
    }

    private func lease(_ index: Int, _ state: inout State) -> IOBuffer {
        let buffer = buffers[index]
        precondition(!buffer.isLeased, "slab \(index) leased twice")
        buffer.isLeased = true
        buffer.setCount(0)
        return buffer
    }

    /// The slabs as iovecs, for io_uring buffer registration.
    package func iovecs() -> [iovec] {
        buffers.map { iovec(iov_base: $0.base, iov_len: slabBytes) }
    }
}
