import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// The directory the node's data and the calibration files go to: on a real file system (O_DIRECT does
/// not work on every tmpfs), by default a fresh `.silo/bench-<pid>` under the package root.
struct DataDirectory {
    let path: String
    /// Created by this run: removed whole afterwards. A directory the user named is only emptied of
    /// what the bench put there (the node log stays).
    let isOwned: Bool

    static func prepare(requested: String?, packageRoot: String?) throws -> DataDirectory {
        let directory: DataDirectory
        if let requested {
            directory = DataDirectory(path: URL(fileURLWithPath: requested).standardizedFileURL.path, isOwned: false)
        } else {
            let base = packageRoot ?? FileManager.default.currentDirectoryPath
            directory = DataDirectory(path: base + "/.silo/bench-\(getpid())", isOwned: true)
        }
        try FileManager.default.createDirectory(atPath: directory.path, withIntermediateDirectories: true)
        if let type = fileSystemType(of: directory.path), type == "tmpfs" || type == "ramfs" {
            Progress.line("warning: \(directory.path) is on tmpfs: disk figures will measure memory, and "
                          + "O_DIRECT may be refused. Pass --data-dir on a real file system.")
        }
        return directory
    }

    /// The type of the file system mounted closest above `path`, from /proc/mounts (statfs is not in the
    /// Glibc module).
    static func fileSystemType(of path: String) -> String? {
        guard let mounts = try? String(contentsOfFile: "/proc/mounts", encoding: .utf8) else { return nil }
        var best: (mountPoint: String, type: String)? = nil
        for line in mounts.split(separator: "\n") {
            let fields = line.split(separator: " ")
            guard fields.count >= 3 else { continue }
            let mountPoint = String(fields[1]).replacingOccurrences(of: "\\040", with: " ")
            let covers = mountPoint == "/" || path == mountPoint || path.hasPrefix(mountPoint + "/")
            if covers, mountPoint.count >= (best?.mountPoint.count ?? 0) {
                best = (mountPoint, String(fields[2]))
            }
        }
        return best?.type
    }

    func cleanUp() {
        if isOwned {
            try? FileManager.default.removeItem(atPath: path)
            // Remove `.silo` too when this run was its only user.
            let parent = URL(fileURLWithPath: path).deletingLastPathComponent().path
            if (try? FileManager.default.contentsOfDirectory(atPath: parent))?.isEmpty == true {
                try? FileManager.default.removeItem(atPath: parent)
            }
        } else {
            try? FileManager.default.removeItem(atPath: path + "/node")
            let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
            for name in names where name.hasPrefix("calibration-") && name.hasSuffix(".dat") {
                try? FileManager.default.removeItem(atPath: path + "/" + name)
            }
        }
    }
}
