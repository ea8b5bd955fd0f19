import Foundation

#if canImport(Glibc)
import Glibc
#endif

extension ChildProcess {
    /// glibc's `POSIX_SPAWN_SETSID` (2.26) sits behind `__USE_GNU`, which Swift's Glibc module leaves
    /// undefined; its value is part of the ABI.
    static let spawnSetSessionFlag: Int32 = 0x80

    /// Signals a daemon must not inherit as ignored or blocked: a shell or test runner that ignores SIGINT,
    /// SIGHUP or SIGPIPE would otherwise hand that on through exec, and SIGTERM must reach the child's own
    /// handler for `silo cluster down` to stop it gracefully.
    static let defaultedSignals: [Int32] = [SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGPIPE, SIGCHLD, SIGUSR1, SIGUSR2]

    /// Starts `command` as a daemon and returns its pid without waiting: a session of its own (no
    /// controlling terminal, so a Ctrl-C in the terminal that ran `silo cluster up` does not reach it), stdin
    /// from /dev/null, stdout and stderr appended to `logPath`, no other descriptor of ours, default signal
    /// dispositions and an empty signal mask. It outlives the caller; the caller reaps it only if it exits
    /// while the caller still runs (`ProcessControl.isGone`).
    static func spawnDetached(_ command: [String], logPath: String, in directory: String) throws -> pid_t {
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var defaulted = sigset_t()
        sigemptyset(&defaulted)
        for signal in defaultedSignals { sigaddset(&defaulted, signal) }
        posix_spawnattr_setsigdefault(&attributes, &defaulted)
        var mask = sigset_t()
        sigemptyset(&mask)
        posix_spawnattr_setsigmask(&attributes, &mask)
        let flags = spawnSetSessionFlag | Int32(POSIX_SPAWN_SETSIGDEF) | Int32(POSIX_SPAWN_SETSIGMASK)
        posix_spawnattr_setflags(&attributes, Int16(flags))

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        // Appended, not truncated: the log of a previous run of the same cluster stays readable above.
        addStandardDescriptors(&actions, outputPath: logPath, outputFlags: O_APPEND, directory: directory)

        let arguments = command.map { strdup($0) } + [nil]
        defer { arguments.forEach { free($0) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, command[0], &actions, &attributes, arguments, environ)
        guard spawned == 0 else {
            throw ClusterError("cannot start \(command[0]): \(String(cString: strerror(spawned)))")
        }
        return pid
    }
}
