import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Starting programs with posix_spawn, and waiting for them with waitpid: how `silo cluster` starts
/// PostgreSQL's tools and its daemons, and how bench starts a node, `git` and `swift build`.
///
/// Not Foundation's `Process`: on Linux it takes a child for running until every process that inherited
/// its internal status descriptor has exited, so a command that leaves a daemon behind (`pg_ctl start`
/// does, by design) could look as if it never returned. waitpid asks about the child alone.
///
/// A child gets only the three standard descriptors (stdin from /dev/null, stdout and stderr where
/// `Options` says), no other descriptor of ours, default signal dispositions and an empty signal mask.
package enum ChildProcess {
    /// Where a child's standard output or standard error goes.
    package enum Destination: Sendable, Equatable {
        /// A file, created when missing; appended to, or emptied first.
        case file(String, append: Bool)
        /// Our own standard error: output a person should see while standard output stays clean.
        case parentStandardError
        case nullDevice
    }

    package struct Options: Sendable {
        package var output: Destination
        /// nil: the same as `output`, both streams in one file in the order written.
        package var error: Destination?
        /// The child's working directory; nil: ours.
        package var directory: String?
        /// A session of its own (no controlling terminal, so a Ctrl-C in the terminal that started us does
        /// not reach it): a daemon meant to outlive us. We reap it only if it exits while we still run
        /// (`ProcessControl.isGone`).
        package var detached: Bool

        package init(output: Destination, error: Destination? = nil, directory: String? = nil,
                     detached: Bool = false) {
            self.output = output
            self.error = error
            self.directory = directory
            self.detached = detached
        }
    }

    /// glibc's `POSIX_SPAWN_SETSID` (2.26) sits behind `__USE_GNU`, which Swift's Glibc module leaves
    /// undefined; its value is part of the ABI.
    static let spawnSetSessionFlag: Int32 = 0x80

    /// Signals a child must not inherit as ignored or blocked: a shell, test runner or Swift runtime that
    /// ignores SIGINT, SIGHUP or SIGPIPE would otherwise hand that on through exec (and threads of the
    /// cooperative pool block signals), and SIGTERM must reach the child's own handler for `silo cluster
    /// down` or bench to stop it gracefully.
    static let defaultedSignals: [Int32] = [SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGPIPE, SIGCHLD, SIGUSR1, SIGUSR2]

    /// Starts `command` (`command[0]` is a path, not looked up on PATH) and returns its pid without
    /// waiting.
    package static func spawn(_ command: [String], _ options: Options) throws -> pid_t {
        precondition(!command.isEmpty, "a command needs a program")
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
        var flags = Int32(POSIX_SPAWN_SETSIGDEF) | Int32(POSIX_SPAWN_SETSIGMASK)
        if options.detached { flags |= spawnSetSessionFlag }
        posix_spawnattr_setflags(&attributes, Int16(flags))

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        addStandardDescriptors(&actions, options)

        let arguments = command.map { strdup($0) } + [nil]
        defer { arguments.forEach { free($0) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, command[0], &actions, &attributes, arguments, environ)
        guard spawned == 0 else {
            throw ClusterError("cannot start \(command[0]): \(String(cString: strerror(spawned)))")
        }
        return pid
    }

    /// Runs `command` to completion; returns its exit status (128 + signal number when a signal ended it).
    /// Blocks: call it on a thread of its own.
    package static func run(_ command: [String], _ options: Options) throws -> Int32 {
        let pid = try spawn(command, options)
        // Never nil when waiting.
        return try exitStatus(of: pid, waiting: true)!
    }

    /// The exit status of our child `pid` once it has ended (128 + signal number when a signal ended it),
    /// which reaps it; nil while it runs. With `waiting`, blocks until it ends.
    package static func exitStatus(of pid: pid_t, waiting: Bool = false) throws -> Int32? {
        var status: Int32 = 0
        while true {
            let result = waitpid(pid, &status, waiting ? 0 : WNOHANG)
            if result == pid { break }
            if result == 0 { return nil }
            guard errno == EINTR else {
                throw ClusterError("waitpid \(pid): \(String(cString: strerror(errno)))")
            }
        }
        // WIFEXITED / WEXITSTATUS / WTERMSIG are macros Swift does not import.
        let signal = status & 0x7f
        return signal == 0 ? (status >> 8) & 0xff : 128 + signal
    }

    /// The child's descriptors: stdin from /dev/null, stdout and stderr as `options` says, nothing else
    /// of ours; and its working directory.
    private static func addStandardDescriptors(_ actions: inout posix_spawn_file_actions_t, _ options: Options) {
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        add(options.output, as: 1, to: &actions)
        if let error = options.error {
            add(error, as: 2, to: &actions)
        } else {
            posix_spawn_file_actions_adddup2(&actions, 1, 2)
        }
        if let directory = options.directory {
            _ = GNUSpawnActions.addChangeDirectory?(&actions, directory)
        }
        _ = GNUSpawnActions.addCloseFrom?(&actions, 3)
    }

    private static func add(_ destination: Destination, as descriptor: Int32,
                            to actions: inout posix_spawn_file_actions_t) {
        switch destination {
        case .file(let path, let append):
            let flags = O_WRONLY | O_CREAT | (append ? O_APPEND : O_TRUNC)
            posix_spawn_file_actions_addopen(&actions, descriptor, path, flags, 0o644)
        case .parentStandardError:
            if descriptor != 2 { posix_spawn_file_actions_adddup2(&actions, 2, descriptor) }
        case .nullDevice:
            posix_spawn_file_actions_addopen(&actions, descriptor, "/dev/null", O_WRONLY, 0)
        }
    }
}

/// glibc's `_np` spawn actions (2.29 and 2.34) are declared only under `_GNU_SOURCE`, which Swift's Glibc
/// module does not define: looked up at run time, and skipped on a libc without them.
enum GNUSpawnActions {
    typealias ChangeDirectory = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>,
                                                UnsafePointer<CChar>) -> Int32
    typealias CloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32

    static let addChangeDirectory: ChangeDirectory? = lookUp("posix_spawn_file_actions_addchdir_np")
    static let addCloseFrom: CloseFrom? = lookUp("posix_spawn_file_actions_addclosefrom_np")

    private static func lookUp<T>(_ name: String) -> T? {
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), name) else { return nil }
        return unsafeBitCast(symbol, to: T.self)
    }
}
