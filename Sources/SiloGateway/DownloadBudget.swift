import SiloCore
import Synchronization

/// The bytes all downloads of one gateway may hold read ahead of their clients (`downloadBufferBytesMax`).
///
/// A download whose client has taken everything it was sent may always take one piece, beyond the budget:
/// so no download ever waits on other clients' downloads, and clients that stop reading hold at most one
/// piece each past the budget (and the connection limit bounds how many there are). Read-ahead beyond that
/// piece waits for budget; waiting is rare (the budget is spent only when many clients read slowly) and is
/// a short poll rather than a queue of waiters, so the common path is one atomic operation per piece.
package final class DownloadBudget: Sendable {
    private let available: Atomic<Int>
    package let capacity: Int
    /// How often a download waiting for budget looks again.
    static let pollInterval: Duration = .milliseconds(5)

    package init(bytes: Int) {
        capacity = bytes
        available = Atomic(bytes)
    }

    /// Takes `bytes` when the budget has them.
    func tryTake(_ bytes: Int) -> Bool {
        var current = available.load(ordering: .relaxed)
        while current >= bytes {
            let (exchanged, original) = available.compareExchange(expected: current, desired: current - bytes,
                                                                  ordering: .acquiringAndReleasing)
            if exchanged { return true }
            current = original
        }
        return false
    }

    /// Takes `bytes` whatever is left (the one piece every download may hold).
    func overdraw(_ bytes: Int) { available.subtract(bytes, ordering: .acquiringAndReleasing) }

    func give(_ bytes: Int) { available.add(bytes, ordering: .acquiringAndReleasing) }

    /// Bytes not held by any download now (negative while downloads hold overdrawn pieces).
    package var unheld: Int { available.load(ordering: .relaxed) }
}

/// One download's share of the budget: what it holds now, given back as its client takes each piece and
/// all at once when the download ends.
final class DownloadLedger: Sendable {
    let budget: DownloadBudget
    private let state = Mutex((held: 0, closed: false))

    init(budget: DownloadBudget) { self.budget = budget }

    /// Takes `bytes` for a piece about to be queued: at once when the download holds nothing (its client
    /// is keeping up), otherwise from the budget, waiting until `deadline` (nil: as long as it takes).
    /// False when the deadline passed.
    func take(_ bytes: Int, until deadline: ContinuousClock.Instant?) async throws -> Bool {
        while true {
            let taken: Bool = try state.withLock { state in
                if state.closed { throw CancellationError() }
                if state.held == 0 {
                    budget.overdraw(bytes)
                } else if !budget.tryTake(bytes) {
                    return false
                }
                state.held += bytes
                return true
            }
            if taken { return true }
            if let deadline, ContinuousClock.now >= deadline { return false }
            try await Task.sleep(for: DownloadBudget.pollInterval)
        }
    }

    /// The client took a piece of `bytes`.
    func release(_ bytes: Int) {
        state.withLock { state in
            guard !state.closed else { return }
            let given = min(bytes, state.held)
            state.held -= given
            budget.give(given)
        }
    }

    /// The download ended: whatever it holds (pieces queued and never sent) goes back, and it takes no more.
    func close() {
        state.withLock { state in
            guard !state.closed else { return }
            state.closed = true
            budget.give(state.held)
            state.held = 0
        }
    }
}
