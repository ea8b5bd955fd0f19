import Dispatch
import Foundation
import Synchronization

/// A fixed set of threads for blocking system calls (open, rename, fsync, pread…), so they never run on an
/// event loop or on Swift's cooperative pool. Jobs run in arrival order; the queue is unbounded in count
/// but every caller awaits its job, so it is bounded by the number of concurrent callers.
package final class BlockingPool: Sendable {
    private let jobs = Mutex<[@Sendable () -> Void]>([])
    private let available = DispatchSemaphore(value: 0)
    private let running = Atomic<Bool>(true)
    package let threadCount: Int

    package init(threadCount: Int, name: String) {
        precondition(threadCount > 0, "a blocking pool needs a thread")
        self.threadCount = threadCount
        for number in 0..<threadCount {
            let thread = Thread { [self] in self.work() }
            thread.name = "\(name)-\(number)"
            thread.start()
        }
    }

    private func work() {
        while true {
            available.wait()
            let job = jobs.withLock { $0.isEmpty ? nil : $0.removeFirst() }
            guard let job else { return }  // shutdown: an empty wake-up
            job()
        }
    }

    /// Runs `body` on one of the pool's threads and returns its result.
    package func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        precondition(running.load(ordering: .relaxed), "BlockingPool used after shutdown")
        return try await withCheckedThrowingContinuation { continuation in
            jobs.withLock {
                $0.append { continuation.resume(with: Result { try body() }) }
            }
            available.signal()
        }
    }

    /// Stops the threads once the queued jobs have run.
    package func shutdown() {
        guard running.exchange(false, ordering: .relaxed) else { return }
        for _ in 0..<threadCount { available.signal() }
    }
}
