import DequeModule
import Synchronization

/// A single-producer, single-consumer queue of at most `capacity` elements with back-pressure both ways:
/// `send` suspends while the queue is full, the consumer's iteration suspends while it is empty.
///
/// Either end can stop the other: `finish` ends the consumer's iteration after what is queued,
/// `fail` ends it with an error, and the consumer's `close` makes every later `send` throw, so a producer
/// never waits forever on a consumer that has gone (a failed node stream, say).
package final class BoundedFeed<Element: Sendable>: AsyncSequence, Sendable {
    struct Closed: Error {}

    private struct State {
        var queue: Deque<Element> = []
        var finished = false
        var failure: (any Error)?
        var closedByConsumer: (any Error)?
        var waitingConsumer: CheckedContinuation<Element?, any Error>?
        var waitingProducer: CheckedContinuation<Void, any Error>?
    }

    let capacity: Int
    private let state = Mutex(State())

    init(capacity: Int) {
        precondition(capacity >= 1, "a feed holds at least one element")
        self.capacity = capacity
    }

    /// Queues `element`, waiting while the queue is full. Throws when the consumer closed the feed.
    func send(_ element: Element) async throws {
        while true {
            let step: SendStep = state.withLock { state in
                if let error = state.closedByConsumer { return .fail(error) }
                precondition(!state.finished, "send after finish")
                if let consumer = state.waitingConsumer {
                    state.waitingConsumer = nil
                    consumer.resume(returning: element)
                    return .done
                }
                if state.queue.count < capacity {
                    state.queue.append(element)
                    return .done
                }
                return .wait
            }
            switch step {
            case .done: return
            case .fail(let error): throw error
            case .wait:
                try await withTaskCancellationHandler {
                    try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                        let resumeNow: (any Error)?? = state.withLock { state in
                            if let error = state.closedByConsumer { return .some(error) }
                            if state.queue.count < capacity || Task.isCancelled {
                                return .some(Task.isCancelled ? CancellationError() : nil)
                            }
                            state.waitingProducer = continuation
                            return .none
                        }
                        switch resumeNow {
                        case .some(.some(let error)): continuation.resume(throwing: error)
                        case .some(.none): continuation.resume()
                        case .none: break
                        }
                    }
                } onCancel: {
                    state.withLock { state in
                        state.waitingProducer.take()
                    }?.resume(throwing: CancellationError())
                }
            }
        }
    }

    /// Queues `element` if the consumer makes room within `timeout`; false (and nothing queued) if not.
    /// Throws when the consumer closed the feed or the calling task is cancelled. A queue with room costs
    /// what `send` does; only a full one pays for the timer.
    func send(_ element: Element, within timeout: Duration) async throws -> Bool {
        let queued: Bool? = try state.withLock { state in
            if let error = state.closedByConsumer { throw error }
            if state.waitingConsumer != nil || state.queue.count < capacity { return nil }
            return false
        }
        if queued == nil {
            try await send(element)
            return true
        }
        return try await withThrowingTaskGroup(of: TimedSend.self) { group in
            group.addTask {
                do {
                    try await self.send(element)
                    return .sent
                } catch is CancellationError {
                    return .notSent
                }
            }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return .timer
            }
            // The send's own answer decides: it either queued the element or did not.
            var sent = false
            while let outcome = try await group.next() {
                switch outcome {
                case .timer: group.cancelAll()
                case .sent: sent = true; group.cancelAll()
                case .notSent: break
                }
            }
            if !sent, Task.isCancelled { throw CancellationError() }
            return sent
        }
    }

    /// No more elements: the consumer sees the end after draining the queue.
    func finish() {
        let consumer = state.withLock { state -> CheckedContinuation<Element?, any Error>? in
            state.finished = true
            return state.queue.isEmpty ? state.waitingConsumer.take() : nil
        }
        consumer?.resume(returning: nil)
    }

    /// Ends the consumer's iteration with `error` at once, dropping what is queued.
    func fail(_ error: any Error) {
        let consumer = state.withLock { state -> CheckedContinuation<Element?, any Error>? in
            state.failure = error
            state.queue.removeAll()
            return state.waitingConsumer.take()
        }
        consumer?.resume(throwing: error)
    }

    /// The consumer stops: later sends throw `error`, a waiting producer is woken with it.
    func close(_ error: any Error = Closed()) {
        let producer = state.withLock { state -> CheckedContinuation<Void, any Error>? in
            if state.closedByConsumer == nil { state.closedByConsumer = error }
            state.queue.removeAll()
            return state.waitingProducer.take()
        }
        producer?.resume(throwing: error)
    }

    fileprivate func next() async throws -> Element? {
        let step: TakeStep<Element> = state.withLock { state in
            if let error = state.failure { return .fail(error) }
            if let element = state.queue.popFirst() { return .element(element) }
            return state.finished ? .end : .wait
        }
        switch step {
        case .element(let element):
            state.withLock { $0.waitingProducer.take() }?.resume()
            return element
        case .end: return nil
        case .fail(let error): throw error
        case .wait:
            return try await withTaskCancellationHandler {
                try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Element?, any Error>) in
                    let now: TakeStep<Element> = state.withLock { state in
                        if let error = state.failure { return .fail(error) }
                        if Task.isCancelled { return .fail(CancellationError()) }
                        if let element = state.queue.popFirst() { return .element(element) }
                        if state.finished { return .end }
                        state.waitingConsumer = continuation
                        return .wait
                    }
                    switch now {
                    case .element(let element): continuation.resume(returning: element)
                    case .end: continuation.resume(returning: nil)
                    case .fail(let error): continuation.resume(throwing: error)
                    case .wait: break
                    }
                }
            } onCancel: {
                state.withLock { $0.waitingConsumer.take() }?.resume(throwing: CancellationError())
            }
        }
    }

    package struct AsyncIterator: AsyncIteratorProtocol, Sendable {
        let feed: BoundedFeed
        package mutating func next() async throws -> Element? { try await feed.next() }
    }

    package func makeAsyncIterator() -> AsyncIterator { AsyncIterator(feed: self) }
}

private enum SendStep { case done, wait, fail(any Error) }
private enum TimedSend { case sent, notSent, timer }
private enum TakeStep<Element> { case element(Element), end, fail(any Error), wait }
