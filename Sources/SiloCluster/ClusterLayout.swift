import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Where a local cluster keeps everything, all under one directory:
///
/// | path | holds |
/// |---|---|
/// | `postgres/` | the private PostgreSQL (`PostgresInstance`: data in `postgres/data`, its socket, its log) |
/// | `nodes/<n>/` | node n's chunks (n counts from 1) |
/// | `logs/node-<n>.log`, `logs/gateway.log` | their output, appended across runs |
/// | `pids/node-<n>.pid`, `pids/gateway.pid` | one pid each, while the process runs |
/// | `cluster.env` | endpoints and credentials, `KEY=value` lines, while the cluster runs |
/// | `cluster.lock` | flock(2)ed by the `silo cluster` command working on the directory |
package struct ClusterLayout: Sendable {
    /// The directory, absolute and standardized (so pid files, logs and the database URL name it the same
    /// way whatever the working directory of a later command).
    package let directory: String

    /// Every name `silo cluster` creates in `directory`; `down --purge` removes nothing else.
    package static let entryNames: Set<String> = [
        "postgres", "nodes", "logs", "pids", "cluster.env", "cluster.env.tmp", "cluster.lock",
    ]

    package init(directory: String) {
        let base = URL(fileURLWithPath: FileManager.default.currentDirectoryPath, isDirectory: true)
        self.directory = URL(fileURLWithPath: directory, relativeTo: base).standardizedFileURL.path
    }

    package var postgresDirectory: String { directory + "/postgres" }
    package var nodesDirectory: String { directory + "/nodes" }
    package var logsDirectory: String { directory + "/logs" }
    package var pidsDirectory: String { directory + "/pids" }
    package var environmentFile: String { directory + "/cluster.env" }
    package var lockFile: String { directory + "/cluster.lock" }

    package func nodeDataDirectory(_ number: Int) -> String { "\(nodesDirectory)/\(number)" }
    package func nodeLogFile(_ number: Int) -> String { "\(logsDirectory)/node-\(number).log" }
    package func nodePIDFile(_ number: Int) -> String { "\(pidsDirectory)/node-\(number).pid" }
    package var gatewayLogFile: String { logsDirectory + "/gateway.log" }
    package var gatewayPIDFile: String { pidsDirectory + "/gateway.pid" }

    package var exists: Bool { FileManager.default.fileExists(atPath: directory) }

    /// True when `up` has been at work here (a directory of its own or `cluster.env` exists).
    package var holdsCluster: Bool {
        [postgresDirectory, nodesDirectory, pidsDirectory, environmentFile].contains {
            FileManager.default.fileExists(atPath: $0)
        }
    }

    /// The numbers of the nodes that have a pid file, ascending.
    package func nodeNumbersWithPIDFiles() -> [Int] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: pidsDirectory)) ?? []
        return names.compactMap { name -> Int? in
            guard name.hasPrefix("node-"), name.hasSuffix(".pid") else { return nil }
            return Int(name.dropFirst("node-".count).dropLast(".pid".count))
        }.sorted()
    }

    func createDirectories() throws {
        for path in [directory, nodesDirectory, logsDirectory, pidsDirectory] {
            do {
                try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
            } catch {
                throw ClusterError("cannot create \(path): \(error.localizedDescription)")
            }
        }
    }
}

/// A pid file: the pid in decimal and a newline, nothing else, so `kill $(cat FILE)` works.
enum PIDFile {
    static func read(_ path: String) -> pid_t? {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
        return text.split(whereSeparator: \.isWhitespace).first.flatMap { pid_t($0) }.flatMap { $0 > 0 ? $0 : nil }
    }

    /// Written to a temporary name and renamed, so a reader never sees half a number.
    static func write(_ pid: pid_t, to path: String) throws {
        try writeAtomically("\(pid)\n", to: path)
    }

    static func remove(_ path: String) {
        unlink(path)
    }
}

/// Writes `text` to `path` through a temporary file and a rename.
func writeAtomically(_ text: String, to path: String) throws {
    let temporary = path + ".tmp"
    do {
        try Data(text.utf8).write(to: URL(fileURLWithPath: temporary))
        guard rename(temporary, path) == 0 else {
            throw ClusterError("rename \(temporary) to \(path): \(String(cString: strerror(errno)))")
        }
    } catch let error as ClusterError {
        unlink(temporary)
        throw error
    } catch {
        unlink(temporary)
        throw ClusterError("cannot write \(path): \(error.localizedDescription)")
    }
}

/// The directory's lock, held by one `silo cluster up` or `down` at a time: two `up`s racing on one
/// directory would each take the other's fresh processes for stale ones. flock(2) is released by the
/// kernel when the holder dies, so a killed command never leaves the directory locked. The descriptor is
/// close-on-exec and the daemons get none of ours, so no child can hold it past its parent.
final class ClusterLock {
    private var descriptor: Int32

    init(_ path: String) throws {
        descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw ClusterError("cannot open \(path): \(String(cString: strerror(errno)))") }
        while flock(descriptor, LOCK_EX | LOCK_NB) != 0 {
            let error = errno
            if error == EINTR { continue }
            close(descriptor)
            descriptor = -1
            if error == EWOULDBLOCK {
                throw ClusterError("another `silo cluster` command is working on \(path.dropLast("/cluster.lock".count)); "
                                   + "wait for it to finish", kind: .directoryBusy)
            }
            throw ClusterError("cannot lock \(path): \(String(cString: strerror(error)))")
        }
    }

    func release() {
        if descriptor >= 0 { close(descriptor) }
        descriptor = -1
    }

    deinit { release() }
}
