import CSiloShims
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// An open file descriptor, opened with O_DIRECT for data files. Closed explicitly with `FileSystem.close`.
package struct DirectFile: Sendable, Hashable {
    package let descriptor: Int32
    package init(descriptor: Int32) { self.descriptor = descriptor }
}

/// Space on the file system that holds a path.
package struct FileSystemSpace: Sendable, Equatable {
    package let totalBytes: UInt64
    package let freeBytes: UInt64
}

/// Blocking file-system calls, each retrying EINTR and throwing `IOError`. Call them through
/// `IOEngine.blocking` so they run on the engine's blocking threads, never on the cooperative pool.
package enum FileSystem {
    package enum OpenMode: Sendable {
        /// O_RDONLY | O_DIRECT.
        case readDirect
        /// O_WRONLY | O_CREAT | O_EXCL | O_DIRECT, mode 0644.
        case createDirect
        /// O_RDONLY | O_DIRECTORY, for fsyncing a directory.
        case directory
    }

    package static func open(_ path: String, _ mode: OpenMode) throws(IOError) -> DirectFile {
        let flags: Int32
        switch mode {
        case .readDirect: flags = O_RDONLY | silo_o_direct() | O_CLOEXEC
        case .createDirect: flags = O_WRONLY | O_CREAT | O_EXCL | silo_o_direct() | O_CLOEXEC
        case .directory: flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC
        }
        let fd = try systemCall("open \(path)") { Glibc.open(path, flags, 0o644) }
        return DirectFile(descriptor: fd)
    }

    package static func close(_ file: DirectFile) {
        // close is not retried on EINTR: on Linux the descriptor is gone either way.
        _ = Glibc.close(file.descriptor)
    }

    /// fsync on a descriptor (a data file, or a directory after a rename).
    package static func sync(_ file: DirectFile) throws(IOError) {
        _ = try systemCall("fsync") { fsync(file.descriptor) }
    }

    /// Opens, fsyncs and closes a directory: makes a rename or unlink in it durable.
    package static func syncDirectory(_ path: String) throws(IOError) {
        let directory = try open(path, .directory)
        defer { close(directory) }
        try sync(directory)
    }

    /// Renames unless `destination` exists; EEXIST (`isAlreadyExists`) when it does.
    package static func renameNoReplace(_ source: String, to destination: String) throws(IOError) {
        _ = try systemCall("rename \(source)") {
            silo_rename_noreplace(AT_FDCWD, source, AT_FDCWD, destination)
        }
    }

    package static func unlink(_ path: String) throws(IOError) {
        _ = try systemCall("unlink \(path)") { Glibc.unlink(path) }
    }

    /// Reserves `length` bytes for `file`; filesystems without fallocate are tolerated (nothing reserved).
    package static func reserve(_ file: DirectFile, bytes length: Int64) throws(IOError) {
        guard length > 0 else { return }
        while true {
            if silo_fallocate(file.descriptor, 0, length) == 0 { return }
            let code = errno
            if code == EINTR { continue }
            if code == EOPNOTSUPP { return }
            throw IOError("fallocate", errno: code)
        }
    }

    /// Creates `path` and its parents (like mkdir -p).
    package static func makeDirectories(_ path: String) throws(IOError) {
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        } catch {
            throw IOError("mkdir \(path)", errno: EIO)
        }
    }

    /// Names in a directory, without "." and "..". A missing directory is empty.
    package static func list(_ path: String) throws(IOError) -> [String] {
        guard let directory = opendir(path) else {
            if errno == ENOENT { return [] }
            throw IOError("opendir \(path)", errno: errno)
        }
        defer { closedir(directory) }
        var names: [String] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(cString: raw.baseAddress!.assumingMemoryBound(to: CChar.self))
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    /// Size of a file in bytes, or nil when it does not exist.
    package static func size(_ path: String) throws(IOError) -> Int64? {
        var info = stat()
        if stat(path, &info) == 0 { return Int64(info.st_size) }
        if errno == ENOENT { return nil }
        throw IOError("stat \(path)", errno: errno)
    }

    /// Size of an open file in bytes.
    package static func size(_ file: DirectFile) throws(IOError) -> Int64 {
        var info = stat()
        _ = try systemCall("fstat") { fstat(file.descriptor, &info) }
        return Int64(info.st_size)
    }

    /// statvfs of the file system holding `path`: what is free to an unprivileged user.
    package static func space(_ path: String) throws(IOError) -> FileSystemSpace {
        var info = statvfs()
        _ = try systemCall("statvfs \(path)") { statvfs(path, &info) }
        let unit = UInt64(info.f_frsize)
        return FileSystemSpace(totalBytes: UInt64(info.f_blocks) * unit, freeBytes: UInt64(info.f_bavail) * unit)
    }
}
