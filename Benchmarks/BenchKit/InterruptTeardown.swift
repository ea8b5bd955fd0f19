import Foundation
import SiloCore
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Clean-up that must run when the bench is interrupted (Ctrl-C, SIGTERM, SIGHUP) while it owns processes
/// that do not share its fate: `silo cluster up` starts its daemons in sessions of their own, so a Ctrl-C in
/// the bench's terminal never reaches them, and without this they would outlive the bench.
///
/// The signal handler only writes the signal number to a pipe (all it may do safely); a thread of its own
/// reads it, runs every registered action, and exits with the conventional 128 + signal status. Handlers
/// (not SIG_IGN) are installed on purpose: a handled disposition is reset to the default across exec, so
/// the processes the bench starts (the chunk workload's node, PostgreSQL's tools) still die of Ctrl-C and
/// SIGTERM as usual.
/// The handlers are installed while at least one action is registered, and the defaults restored after.
enum InterruptTeardown {
    static let signals: [Int32] = [SIGINT, SIGTERM, SIGHUP]

    private struct State {
        var actions: [Int: @Sendable () -> Void] = [:]
        var nextID = 0
        var watcherStarted = false
        /// Set once a signal arrived: the watcher is stopping everything and will end the process.
        var interrupted = false
    }

    private static let state = Mutex(State())
    /// Read end, write end. Created before any handler can run, so the handler only loads it.
    private static let pipeDescriptors: (read: Int32, write: Int32) = {
        var descriptors: [Int32] = [-1, -1]
        // pipe2 is behind _GNU_SOURCE, which Swift's Glibc module does not define.
        guard pipe(&descriptors) == 0 else {
            fatalError("pipe for the interrupt watcher: \(String(cString: strerror(errno)))")
        }
        for descriptor in descriptors { _ = fcntl(descriptor, F_SETFD, FD_CLOEXEC) }
        return (descriptors[0], descriptors[1])
    }()

    /// Registers `action` to run if the bench is interrupted; returns the id to unregister it with once
    /// the resource is released normally.
    static func register(_ action: @escaping @Sendable () -> Void) -> Int {
        _ = pipeDescriptors
        let (id, first, startWatcher) = state.withLock { state in
            let id = state.nextID
            state.nextID += 1
            state.actions[id] = action
            let startWatcher = !state.watcherStarted
            state.watcherStarted = true
            return (id, state.actions.count == 1, startWatcher)
        }
        if startWatcher { startWatcherThread() }
        if first {
            for signalNumber in signals {
                signal(signalNumber) { number in
                    var byte = UInt8(truncatingIfNeeded: number)
                    _ = write(InterruptTeardown.pipeDescriptors.write, &byte, 1)
                }
            }
        }
        return id
    }

    static func unregister(_ id: Int) {
        holdIfInterrupted()
        let last = state.withLock { state in
            state.actions[id] = nil
            return state.actions.isEmpty
        }
        if last { for signalNumber in signals { signal(signalNumber, SIG_DFL) } }
    }

    /// Blocks for good once an interrupt is being handled, for a caller about to clean up or report a
    /// failure the interrupt caused: the watcher is stopping everything and ends the process with the
    /// signal's status, which must not lose a race to the caller's own error and exit status.
    static func holdIfInterrupted() {
        guard state.withLock({ $0.interrupted }) else { return }
        while true { pause() }
    }

    private static func startWatcherThread() {
        DedicatedThread.start(name: "bench-interrupt") {
            var byte: UInt8 = 0
            while read(pipeDescriptors.read, &byte, 1) != 1 {}
            let signalNumber = Int32(byte)
            Progress.line("bench: interrupted by signal \(signalNumber): stopping what it started")
            let actions = state.withLock { state in
                state.interrupted = true
                defer { state.actions.removeAll() }
                return state.actions.sorted { $0.key > $1.key }.map(\.value)
            }
            for action in actions { action() }
            exit(128 + signalNumber)
        }
    }
}
