import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Runs a command to completion with posix_spawn and waitpid. Only the three standard descriptors reach
/// the child (stdin /dev/null, stdout and stderr to a file), so a daemon it starts holds nothing of ours.
enum ChildProcess {
    /// Returns the exit status (128 + signal number when a signal ended it).
    static func run(_ command: [String], outputPath: String, in directory: String) throws -> Int32 {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        addStandardDescriptors(&actions, outputPath: outputPath, outputFlags: O_TRUNC, directory: directory)

        let arguments = command.map { strdup($0) } + [nil]
        defer { arguments.forEach { free($0) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, command[0], &actions, nil, arguments, environ)
        guard spawned == 0 else {
            throw PostgresInstanceError("cannot start \(command[0]): \(String(cString: strerror(spawned)))")
        }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 {
            guard errno == EINTR else {
                throw PostgresInstanceError("waitpid \(command[0]): \(String(cString: strerror(errno)))")
            }
        }
        // WIFEXITED / WEXITSTATUS / WTERMSIG are macros Swift does not import.
        let signal = status & 0x7f
        return signal == 0 ? (status >> 8) & 0xff : 128 + signal
    }
}

extension ChildProcess {
    /// The child's descriptors: stdin from /dev/null, stdout and stderr to `outputPath` (opened with
    /// `outputFlags` besides write and create), nothing else of ours; and its working directory.
    static func addStandardDescriptors(_ actions: inout posix_spawn_file_actions_t, outputPath: String,
                                       outputFlags: Int32, directory: String) {
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outputPath, O_WRONLY | O_CREAT | outputFlags, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        _ = GNUSpawnActions.addChangeDirectory?(&actions, directory)
        _ = GNUSpawnActions.addCloseFrom?(&actions, 3)
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
