import SiloCore
import Synchronization

/// A node call that made no progress for `nodeStallTimeout`.
package struct NodeStalled: Error, CustomStringConvertible {
    package var node: NodeID
    package var timeout: Duration
    package var description: String { "node \(node) made no progress for \(timeout)" }
}

/// Gives up on a node call that stops making progress, so a node that takes connections and never answers
/// (a hung process or disk, packets dropped) cannot hold a GET or PUT for ever: the call is cancelled and
/// fails with `NodeStalled`, which a read turns into failover and an upload into a retryable 503.
///
/// Progress is what the node does: a piece arriving, a batch accepted. Time the call spends waiting on
/// the other side of the gateway (a slow client reading, a slow client sending) is paused out, so a slow
/// client never makes a node look stalled.
package final class NodeStallWatch: Sendable {
    private struct State {
        var lastProgress: ContinuousClock.Instant
        var pausedDepth = 0
    }

    private let state: Mutex<State>

    private init() { state = Mutex(State(lastProgress: .now)) }

    func progressed() { state.withLock { $0.lastProgress = .now } }

    /// Runs `wait` (a wait on the client, not the node) without counting it against the node.
    func excluding<T>(_ wait: () async throws -> T) async rethrows -> T {
        state.withLock { $0.pausedDepth += 1 }
        defer { state.withLock { $0.pausedDepth -= 1; $0.lastProgress = .now } }
        return try await wait()
    }

    private func stalled(after timeout: Duration) -> Bool {
        state.withLock { $0.pausedDepth == 0 && ContinuousClock.now - $0.lastProgress > timeout }
    }

    /// Runs `call`, cancelling it once it has made no progress for `timeout`.
    static func run<T: Sendable>(node: NodeID, timeout: Duration,
                                 _ call: @Sendable @escaping (NodeStallWatch) async throws -> T) async throws -> T {
        let watch = NodeStallWatch()
        return try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask { try await call(watch) }
            group.addTask {
                while true {
                    try await Task.sleep(for: timeout / 4)
                    if watch.stalled(after: timeout) { throw NodeStalled(node: node, timeout: timeout) }
                }
            }
            defer { group.cancelAll() }
            while let result = try await group.next() {
                if let result { return result }
            }
            preconditionFailure("the watchdog ended without a result or an error")
        }
    }
}
