import Foundation

/// Runs blocking work (memcpy loops, blocking sockets) on a thread of its own, so it never occupies the
/// cooperative pool: on a 2-core machine that pool has two threads, and gRPC and the I/O engine need them.
enum DedicatedThread {
    static func run<T: Sendable>(
        name: String, _ body: @escaping @Sendable () throws -> T
    ) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            let thread = Thread {
                continuation.resume(with: Result { try body() })
            }
            thread.name = name
            thread.start()
        }
    }
}
