import Synchronization

/// A fixed set of libpq connections, each with its own thread. Callers wait (up to
/// `MetadataLimits.acquireTimeout`) for a free one; the pool never opens more than `poolConnections`.
///
/// Connections open lazily and reopen after a loss, so the pool survives a PostgreSQL restart: the calls
/// made while the server is away fail with a retryable `DatabaseError`, the next ones reconnect.
package final class ConnectionPool: Sendable {
    package let configuration: DatabaseConfiguration
    private let slots: [ConnectionSlot]
    private let state: Mutex<State>

    private struct Waiter {
        let id: UInt64
        let continuation: CheckedContinuation<Int, any Error>
    }

    private struct State {
        var free: [Int]
        var waiters: [Waiter] = []
        var nextWaiterID: UInt64 = 0
        var closed = false
    }

    package init(_ configuration: DatabaseConfiguration) throws {
        try configuration.limits.validate()
        self.configuration = configuration
        let count = configuration.limits.poolConnections
        slots = (0..<count).map { ConnectionSlot(parameters: configuration.connectionParameters, number: $0) }
        state = Mutex(State(free: Array((0..<count).reversed())))
    }

    package var limits: MetadataLimits { configuration.limits }

    /// Connections lent out now, and the pool's size (for metrics).
    package var usage: (busy: Int, total: Int) {
        state.withLock { (slots.count - $0.free.count, slots.count) }
    }

    /// Runs `body` on a pooled connection's thread. No retry: see `read` and `transaction`.
    package func withConnection<T: Sendable>(
        _ body: @escaping @Sendable (PostgresConnection) throws -> T
    ) async throws -> T {
        let index = try await acquire()
        defer { release(index) }
        return try await slots[index].run(body)
    }

    /// Runs `body` (statements that change nothing, so safe to repeat) and retries it on a lost connection.
    package func read<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) throws -> T) async throws -> T {
        try await retrying { try await self.withConnection(body) }
    }

    /// Runs `body` between BEGIN and COMMIT on one connection; on a serialization failure, a deadlock or a
    /// lost connection it rolls back and runs `body` again, up to `transactionAttemptsMax` times.
    ///
    /// A connection lost while COMMIT is in flight leaves the outcome unknown; the retry then runs `body`
    /// again, so transactions are written to be correct when repeated (they check state, not assume it).
    package func transaction<T: Sendable>(
        _ body: @escaping @Sendable (PostgresConnection) throws -> T
    ) async throws -> T {
        try await retrying {
            try await self.withConnection { connection in
                try connection.execute(sql: "BEGIN")
                do {
                    let value = try body(connection)
                    try connection.execute(sql: "COMMIT")
                    return value
                } catch {
                    if !connection.isBroken { _ = try? connection.execute(sql: "ROLLBACK") }
                    throw error
                }
            }
        }
    }

    /// Runs `body`, which issues exactly one statement (PostgreSQL wraps it in a transaction of its own),
    /// with the retries of `transaction` but without its BEGIN and COMMIT round trips.
    package func singleStatement<T: Sendable>(
        _ body: @escaping @Sendable (PostgresConnection) throws -> T
    ) async throws -> T {
        try await retrying { try await self.withConnection(body) }
    }

    private func retrying<T: Sendable>(_ attempt: () async throws -> T) async throws -> T {
        var pause = limits.retryBackoff
        for attemptNumber in 1... {
            do {
                return try await attempt()
            } catch let error as DatabaseError where Self.shouldRetry(error)
                && attemptNumber < limits.transactionAttemptsMax {
                try await Task.sleep(for: pause)
                pause *= 2
            }
        }
        fatalError("unreachable: the loop returns or throws")
    }

    private static func shouldRetry(_ error: DatabaseError) -> Bool {
        switch error {
        case .poolExhausted: return false  // already waited the whole deadline
        default: return error.isRetryable
        }
    }

    /// Closes every connection and ends the threads. Calls in flight finish; later ones fail `poolClosed`.
    package func shutdown() async {
        let waiters = state.withLock { state -> [Waiter] in
            state.closed = true
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.continuation.resume(throwing: DatabaseError.poolClosed) }
        for slot in slots { await slot.close() }
    }

    // MARK: - Slots

    private func acquire() async throws -> Int {
        let timeout = limits.acquireTimeout
        return try await withCheckedThrowingContinuation { continuation in
            let outcome = state.withLock { state -> Result<Int, DatabaseError>? in
                if state.closed { return .failure(.poolClosed) }
                if let index = state.free.popLast() { return .success(index) }
                state.nextWaiterID += 1
                state.waiters.append(Waiter(id: state.nextWaiterID, continuation: continuation))
                let id = state.nextWaiterID
                Task { [self] in
                    try? await Task.sleep(for: timeout)
                    expire(waiter: id, after: timeout)
                }
                return nil
            }
            if let outcome { continuation.resume(with: outcome) }
        }
    }

    private func expire(waiter id: UInt64, after timeout: Duration) {
        let waiter = state.withLock { state -> Waiter? in
            guard let position = state.waiters.firstIndex(where: { $0.id == id }) else { return nil }
            return state.waiters.remove(at: position)
        }
        let milliseconds = Int(timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000)
        waiter?.continuation.resume(throwing: DatabaseError.poolExhausted(
            connections: slots.count, waitedMilliseconds: milliseconds))
    }

    private func release(_ index: Int) {
        let waiter = state.withLock { state -> Waiter? in
            if !state.waiters.isEmpty { return state.waiters.removeFirst() }
            state.free.append(index)
            return nil
        }
        waiter?.continuation.resume(returning: index)
    }
}

/// One connection of the pool and the thread it lives on.
///
/// `@unchecked Sendable`: `connection` is read and written only on `thread`, which `withConnection`
/// checks with a precondition on every use.
private final class ConnectionSlot: @unchecked Sendable {
    private let thread: DatabaseThread
    private let parameters: [(keyword: String, value: String)]
    private var connection: PostgresConnection?

    init(parameters: [(keyword: String, value: String)], number: Int) {
        self.parameters = parameters
        thread = DatabaseThread(name: "silo-db-\(number)")
    }

    func run<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) throws -> T) async throws -> T {
        try await thread.run { [self] in
            precondition(thread.isCurrent, "a pooled connection used off its thread")
            let current: PostgresConnection
            if let connection, !connection.isBroken {
                current = connection
            } else {
                connection = nil
                current = try PostgresConnection(parameters: parameters)
                connection = current
            }
            do {
                return try body(current)
            } catch let error as DatabaseError where error.losesConnection || current.isBroken {
                connection = nil
                throw error
            }
        }
    }

    func close() async {
        _ = try? await thread.run { [self] in connection = nil }
        thread.shutdown()
    }
}
