import Foundation
import SiloCore
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Bytes the bench's clients have sent or received, counted as they go: the live line's current MB/s.
/// One relaxed atomic add per body slice (a MiB on upload, a receive buffer on download) costs nothing
/// beside the transfer.
enum TransferMeter {
    private static let bytes = Atomic<Int>(0)

    static func add(_ count: Int) { bytes.wrappingAdd(count, ordering: .relaxed) }
    static var total: Int { bytes.load(ordering: .relaxed) }
}

/// Progress on standard error, so the report on standard output stays clean: permanent lines (one per
/// measured round) and, while a workload runs, one live line saying what is running, for how long, and
/// the current MB/s. On a terminal the live line is rewritten in place (`\r`) every second; elsewhere (CI
/// logs) it is printed as a plain line every `plainInterval`, so a log shows a long run is alive without
/// filling up.
enum Progress {
    static let tickInterval = Duration.seconds(1)
    static let plainInterval = Duration.seconds(15)

    private struct State {
        var workload: String?
        var workloadStart = ContinuousClock.now
        var activity = ""
        var lastTick = ContinuousClock.now
        var lastBytes = 0
        var megabytesPerSecond = 0.0
        var lastPlainLine = ContinuousClock.now
        /// Whether the live line is on screen (a terminal only).
        var liveShown = false
        var tickerStarted = false
    }

    private static let state = Mutex(State())
    static let isTerminal = isatty(STDERR_FILENO) == 1

    /// A permanent line. On a terminal the live line is cleared first and redrawn after.
    static func line(_ text: String) {
        state.withLock { state in
            var out = ""
            if state.liveShown { out += "\r\u{1B}[K" }
            out += text + "\n"
            if state.liveShown { out += liveText(state) }
            write(out)
        }
    }

    /// Starts the live line of `workload` (nil ends it).
    static func workload(_ name: String?) {
        state.withLock { state in
            if state.liveShown, name == nil { write("\r\u{1B}[K") }
            if name == nil, let finished = state.workload {
                write("\(finished) took \(Int((ContinuousClock.now - state.workloadStart).seconds)) s\n")
            }
            state.liveShown = false
            state.workload = name
            state.workloadStart = .now
            state.activity = ""
            state.lastTick = .now
            state.lastBytes = TransferMeter.total
            state.megabytesPerSecond = 0
            state.lastPlainLine = .now
            if name != nil, !state.tickerStarted {
                state.tickerStarted = true
                startTicker()
            }
        }
    }

    /// What the running workload is doing now (`e2e one stream on silo R=1, round 2/3`).
    static func activity(_ text: String) {
        state.withLock { $0.activity = text }
    }

    private static func startTicker() {
        DedicatedThread.start(name: "bench-progress") {
            while true {
                Thread.sleep(forTimeInterval: tickInterval.seconds)
                tick()
            }
        }
    }

    private static func tick() {
        state.withLock { state in
            guard state.workload != nil else { return }
            let now = ContinuousClock.now
            let bytes = TransferMeter.total
            let elapsed = (now - state.lastTick).seconds
            if elapsed > 0 { state.megabytesPerSecond = Double(bytes - state.lastBytes) / elapsed / 1e6 }
            state.lastTick = now
            state.lastBytes = bytes
            if isTerminal {
                write("\r\u{1B}[K" + liveText(state))
                state.liveShown = true
            } else if now - state.lastPlainLine >= plainInterval {
                state.lastPlainLine = now
                write(liveText(state) + "\n")
            }
        }
    }

    private static func liveText(_ state: State) -> String {
        guard let workload = state.workload else { return "" }
        let seconds = Int((ContinuousClock.now - state.workloadStart).seconds)
        let elapsed = String(format: "%d:%02d", seconds / 60, seconds % 60)
        var text = "▶ \(workload) \(elapsed)"
        if !state.activity.isEmpty { text += " · \(state.activity)" }
        text += " · \(Format.value(state.megabytesPerSecond)) MB/s"
        // One terminal line: a wrapped live line cannot be rewritten with \r.
        let width = 119
        return text.count > width ? String(text.prefix(width - 1)) + "…" : text
    }

    private static func write(_ text: String) {
        FileHandle.standardError.write(Data(text.utf8))
    }
}
