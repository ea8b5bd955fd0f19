import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Looking at and stopping processes by pid, the way `silo cluster down` and `status` find what `up`
/// started, and bench stops the node it started. Everything here blocks (sleeps, waits): callers run it
/// on a thread of their own.
package enum ProcessControl {
    /// How often a wait for a process to go away looks again.
    static let pollInterval: Duration = .milliseconds(20)
    /// After SIGKILL, how long to wait for the kernel to take the process away.
    static let killWait: Duration = .seconds(5)

    /// True once `pid` no longer runs: reaped here (it was our child), gone from the process table, or a
    /// zombie (its parent, perhaps an init that never reaps, has yet to collect it; it runs nothing).
    package static func isGone(_ pid: pid_t) -> Bool {
        var status: Int32 = 0
        if waitpid(pid, &status, WNOHANG) == pid { return true }
        if kill(pid, 0) != 0, errno == ESRCH { return true }
        return state(of: pid).map { $0 == "Z" || $0 == "X" } ?? true
    }

    /// The one-letter state from /proc/PID/stat (R, S, D, Z, …); nil when the process is gone.
    static func state(of pid: pid_t) -> Character? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = text.lastIndex(of: ")") else { return nil }
        // "pid (comm) S …": comm may hold spaces and parentheses, the last ')' ends it.
        return text[text.index(after: close)...].first { $0 != " " }
    }

    /// The argument vector of a running process (argv[0] first); nil when it is gone or a zombie.
    package static func arguments(of pid: pid_t) -> [String]? {
        guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline"), !data.isEmpty else {
            return nil
        }
        return data.split(separator: 0, omittingEmptySubsequences: false).dropLast().map {
            String(decoding: $0, as: UTF8.self)
        }
    }

    /// The value after `option` in `arguments` (`--listen 127.0.0.1:50051`, or `--listen=…`).
    package static func value(of option: String, in arguments: [String]) -> String? {
        for (index, argument) in arguments.enumerated() {
            if argument == option, index + 1 < arguments.count { return arguments[index + 1] }
            if argument.hasPrefix(option + "=") { return String(argument.dropFirst(option.count + 1)) }
        }
        return nil
    }

    /// SIGTERM to every pid, a wait of up to `grace` for all of them together, then SIGKILL to those still
    /// there. Returns the pids that needed SIGKILL.
    @discardableResult
    package static func terminate(_ pids: [pid_t], grace: Duration) -> [pid_t] {
        var running = pids.filter { !isGone($0) }
        for pid in running { kill(pid, SIGTERM) }
        running = wait(for: running, upTo: grace)
        let killed = running
        for pid in killed { kill(pid, SIGKILL) }
        _ = wait(for: killed, upTo: killWait)
        return killed
    }

    /// Waits until every pid is gone or `limit` passed; returns those still running.
    static func wait(for pids: [pid_t], upTo limit: Duration) -> [pid_t] {
        let deadline = ContinuousClock.now + limit
        var running = pids.filter { !isGone($0) }
        while !running.isEmpty, ContinuousClock.now < deadline {
            sleep(for: pollInterval)
            running = running.filter { !isGone($0) }
        }
        return running
    }

    static func sleep(for duration: Duration) {
        let (seconds, attoseconds) = duration.components
        var request = timespec(tv_sec: Int(seconds), tv_nsec: Int(attoseconds / 1_000_000_000))
        var remaining = timespec()
        while nanosleep(&request, &remaining) != 0, errno == EINTR { request = remaining }
    }

    /// The running executable's path, for starting `silo node` and `silo gateway` from the same build: its
    /// real name (what `ps` then shows), or /proc/self/exe itself when that file was replaced since it
    /// started (a rebuild while `up` runs): exec resolves that link in the child, to the very same binary.
    static func ownExecutable() -> String {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let length = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        guard length > 0 else { return "/proc/self/exe" }
        let path = String(decoding: buffer[..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return FileManager.default.isExecutableFile(atPath: path) ? path : "/proc/self/exe"
    }
}
