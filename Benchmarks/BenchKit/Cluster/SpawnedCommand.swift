import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Runs a command to completion with posix_spawn and waitpid, its output appended to a log file.
///
/// Not Foundation's `Process`: on Linux it takes a child for running until every process that inherited
/// its internal status descriptor has exited, so a command that leaves a daemon behind (`silo cluster up`
/// does, by design) could look as if it never returned. waitpid asks about the child alone.
enum SpawnedCommand {
    /// Signals whose disposition the bench may have changed (SIGPIPE ignored by the runtime, the
    /// interrupt handlers) and that the command must get with their defaults.
    static let defaultedSignals: [Int32] = [SIGPIPE, SIGINT, SIGTERM, SIGHUP]

    /// Runs `executable` with `arguments`; returns its exit status (128 + signal when a signal ended it).
    /// Past `timeout` it is killed (SIGKILL). `running` holds its pid while it runs, so an interrupt can
    /// stop it. Blocking: call it on a dedicated thread.
    static func run(_ executable: String, _ arguments: [String], logPath: String, timeout: Duration,
                    running: RunningPID? = nil) throws -> Int32 {
        let log = open(logPath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard log >= 0 else { throw BenchError("cannot open \(logPath): \(String(cString: strerror(errno)))") }
        defer { close(log) }
        let banner = "$ \(URL(fileURLWithPath: executable).lastPathComponent) \(arguments.joined(separator: " "))\n"
        _ = banner.withCString { write(log, $0, strlen($0)) }

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, log, 1)
        posix_spawn_file_actions_adddup2(&actions, log, 2)

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var defaulted = sigset_t()
        sigemptyset(&defaulted)
        for signalNumber in defaultedSignals { sigaddset(&defaulted, signalNumber) }
        posix_spawnattr_setsigdefault(&attributes, &defaulted)
        var emptyMask = sigset_t()
        sigemptyset(&emptyMask)
        posix_spawnattr_setsigmask(&attributes, &emptyMask)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))

        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, executable, &actions, &attributes, argv, environ)
        guard spawned == 0 else {
            throw BenchError("cannot start \(executable): \(String(cString: strerror(spawned)))")
        }
        running?.set(pid)
        defer { running?.set(nil) }

        let deadline = ContinuousClock.now + timeout
        var status: Int32 = 0
        while true {
            let result = waitpid(pid, &status, WNOHANG)
            if result == pid { break }
            if result < 0, errno != EINTR {
                throw BenchError("waitpid \(executable): \(String(cString: strerror(errno)))")
            }
            if ContinuousClock.now >= deadline {
                Progress.line("`\(arguments.prefix(2).joined(separator: " "))` still running after \(timeout); killing it")
                kill(pid, SIGKILL)
                while waitpid(pid, &status, 0) < 0, errno == EINTR {}
                break
            }
            usleep(20_000)
        }
        // WIFEXITED / WEXITSTATUS / WTERMSIG are macros Swift does not import.
        let signal = status & 0x7f
        return signal == 0 ? (status >> 8) & 0xff : 128 + signal
    }
}

/// The pid of a command while `SpawnedCommand.run` waits for it, readable from another thread.
final class RunningPID: Sendable {
    private let pid = Mutex<pid_t?>(nil)

    func set(_ value: pid_t?) { pid.withLock { $0 = value } }
    var value: pid_t? { pid.withLock { $0 } }
}
