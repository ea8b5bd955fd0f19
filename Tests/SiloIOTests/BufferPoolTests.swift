import SiloIO
import Testing

@Suite struct BufferPoolTests {
    @Test func slabsAreAlignedAndBounded() {
        let pool = BufferPool(slabBytes: 8192, slabCount: 3)
        #expect(pool.freeCount == 3)
        let buffers = (0..<3).compactMap { _ in pool.tryAcquire() }
        #expect(buffers.count == 3)
        #expect(pool.tryAcquire() == nil, "the pool never grows")
        #expect(buffers.allSatisfy { $0.capacity == 8192 && $0.count == 0 })
        buffers.forEach(pool.release)
        #expect(pool.freeCount == 3)
    }

    @Test func acquireWaitsUntilARelease() async throws {
        let pool = BufferPool(slabBytes: 4096, slabCount: 2)
        let first = try await pool.acquire()
        let second = try await pool.acquire()
        let waiter = Task { try await pool.acquire() }
        // The waiter cannot finish while both slabs are out.
        try await Task.sleep(for: .milliseconds(50))
        #expect(pool.freeCount == 0)
        pool.release(first)
        let third = try await waiter.value
        #expect(third === first, "the released slab goes straight to the waiter")
        #expect(pool.freeCount == 0)
        pool.release(second)
        pool.release(third)
        #expect(pool.freeCount == 2)
    }

    @Test func waitersAreServedInOrder() async throws {
        let pool = BufferPool(slabBytes: 4096, slabCount: 1)
        let held = try await pool.acquire()
        let order = OrderLog()
        let waiters = (0..<4).map { number in
            Task {
                let buffer = try await pool.acquire()
                await order.append(number)
                pool.release(buffer)
            }
        }
        // Let each waiter enqueue before the next starts.
        try await Task.sleep(for: .milliseconds(100))
        pool.release(held)
        for waiter in waiters { try await waiter.value }
        #expect(await order.values.count == 4)
        #expect(pool.freeCount == 1)
    }

    @Test func cancelledWaiterGivesUp() async throws {
        let pool = BufferPool(slabBytes: 4096, slabCount: 1)
        let held = try await pool.acquire()
        let waiter = Task { try await pool.acquire() }
        try await Task.sleep(for: .milliseconds(20))
        waiter.cancel()
        await #expect(throws: CancellationError.self) { try await waiter.value }
        pool.release(held)
        #expect(pool.freeCount == 1, "a cancelled waiter takes nothing")
    }

    @Test func copiesInAndOut() throws {
        let pool = BufferPool(slabBytes: 4096, slabCount: 1)
        let buffer = try #require(pool.tryAcquire())
        buffer.append([1, 2, 3])
        #expect(buffer.append(Data([4, 5, 6, 7]), from: 1) == 3)
        #expect(buffer.bytes(0..<buffer.count) == [1, 2, 3, 5, 6, 7])
        buffer.zeroFill(upTo: 4096)
        #expect(buffer.isFull)
        #expect(buffer.append(Data([9])) == 0, "a full buffer takes nothing")
        pool.release(buffer)
    }
}

actor OrderLog {
    var values: [Int] = []
    func append(_ value: Int) { values.append(value) }
}

import Foundation
