import Foundation

/// Blocking work (pg_ctl, waitpid, sleeps, blocking sockets, memcpy loops) on a thread of its own, never on
/// Swift's cooperative pool: on a 2-core machine that pool has two threads, and gRPC, NIO and the I/O
/// engine need them.
///
/// For work that ends. Long-lived workers that take jobs from a queue (`DatabaseThread`, the I/O engine's
/// completion thread) own their threads and are not built on this.
package enum DedicatedThread {
    /// Runs `body` on a new thread named `name` and returns what it returns (or throws what it throws).
    package static func run<T: Sendable>(
        name: String, _ body: @escaping @Sendable () throws -> T
    ) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            start(name: name) { continuation.resume(with: Result { try body() }) }
        }
    }

    /// Starts `body` on a new thread named `name` and returns at once: for a loop that lives as long as
    /// the process (a ticker, a signal watcher), which nothing awaits.
    package static func start(name: String, _ body: @escaping @Sendable () -> Void) {
        let thread = Thread(block: body)
        thread.name = name
        thread.start()
    }
}
