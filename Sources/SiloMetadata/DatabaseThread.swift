import Foundation
import Synchronization

/// One dedicated thread that runs blocking libpq calls for one pooled connection, in arrival order.
///
/// libpq blocks in every call, so it must never run on an event loop or on Swift's cooperative pool (on a
/// 2-core machine that pool has two threads). Giving each connection its own thread also keeps every
/// `PGconn` confined to one thread for its whole life, which libpq requires of a connection.
final class DatabaseThread: Sendable {
    private let jobs = Mutex<(queue: [@Sendable () -> Void], running: Bool)>(([], true))
    private let available = DispatchSemaphore(value: 0)
    /// Set once by the thread itself before it takes its first job; read by `isCurrent`.
    private let threadIdentity = Atomic<UInt>(0)

    init(name: String) {
        let started = DispatchSemaphore(value: 0)
        let thread = Thread { [self] in
            threadIdentity.store(UInt(bitPattern: Int(bitPattern: pthread_self())), ordering: .releasing)
            started.signal()
            work()
        }
        thread.name = name
        thread.start()
        started.wait()
    }

    /// True on this object's thread: the runtime check behind the confinement of its connection.
    var isCurrent: Bool {
        threadIdentity.load(ordering: .acquiring) == UInt(bitPattern: Int(bitPattern: pthread_self()))
    }

    private func work() {
        while true {
            available.wait()
            let job: (@Sendable () -> Void)? = jobs.withLock { $0.queue.isEmpty ? nil : $0.queue.removeFirst() }
            guard let job else { return }  // shutdown: an empty wake-up
            job()
        }
    }

    /// Runs `body` on the thread and returns its result.
    func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            let accepted = jobs.withLock { state -> Bool in
                guard state.running else { return false }
                state.queue.append { continuation.resume(with: Result { try body() }) }
                return true
            }
            if accepted {
                available.signal()
            } else {
                continuation.resume(throwing: DatabaseError.poolClosed)
            }
        }
    }

    /// Lets the thread finish the jobs already queued, then end.
    func shutdown() {
        let wasRunning = jobs.withLock { state -> Bool in
            defer { state.running = false }
            return state.running
        }
        if wasRunning { available.signal() }
    }
}
