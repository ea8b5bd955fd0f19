import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// What `stat` says of a file that matters to the chunk store.
package struct FileStatus: Sendable, Equatable {
    package let size: Int64
    package let modifiedUnixSeconds: Int64
    /// Device and inode: the same file under whatever name, so a rename can be refused when another file
    /// took the name in the meantime.
    package let device: UInt64
    package let inode: UInt64

    init(_ info: stat) {
        size = Int64(info.st_size)
        modifiedUnixSeconds = Int64(info.st_mtim.tv_sec)
        device = UInt64(info.st_dev)
        inode = UInt64(info.st_ino)
    }

    /// True when both describe the same file (not necessarily the same contents or size).
    package func isSameFile(as other: FileStatus) -> Bool {
        device == other.device && inode == other.inode
    }
}

extension FileSystem {
    /// stat of `path`, or nil when it does not exist.
    package static func status(_ path: String) throws(IOError) -> FileStatus? {
        var info = stat()
        if stat(path, &info) == 0 { return FileStatus(info) }
        if errno == ENOENT { return nil }
        throw IOError("stat \(path)", errno: errno)
    }

    /// fstat of an open file.
    package static func status(_ file: DirectFile) throws(IOError) -> FileStatus {
        var info = stat()
        _ = try systemCall("fstat") { fstat(file.descriptor, &info) }
        return FileStatus(info)
    }

    /// Renames, replacing `destination` when it exists.
    package static func rename(_ source: String, to destination: String) throws(IOError) {
        _ = try systemCall("rename \(source)") { Glibc.rename(source, destination) }
    }

    /// The contents of a small file, or nil when it does not exist. More than `bytesMax` bytes is EFBIG:
    /// what is read here is a few bytes of configuration, never data.
    package static func readSmallFile(_ path: String, bytesMax: Int) throws(IOError) -> [UInt8]? {
        let descriptor = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        if descriptor == -1 {
            if errno == ENOENT { return nil }
            throw IOError("open \(path)", errno: errno)
        }
        defer { _ = Glibc.close(descriptor) }
        var bytes = [UInt8](repeating: 0, count: bytesMax + 1)
        var count = 0
        while count < bytes.count {
            let read = try systemCall("read \(path)") {
                bytes.withUnsafeMutableBytes { Glibc.read(descriptor, $0.baseAddress! + count, $0.count - count) }
            }
            if read == 0 { break }
            count += read
        }
        guard count <= bytesMax else { throw IOError("read \(path)", errno: EFBIG) }
        return Array(bytes[0..<count])
    }

    /// Replaces `path` with `bytes` so that a crash leaves the old contents or the new, never a mix: writes
    /// `path.tmp`, fsyncs it, renames it over `path` and fsyncs the directory.
    package static func writeDurably(_ bytes: [UInt8], to path: String) throws(IOError) {
        let temporaryPath = path + ".tmp"
        let descriptor = try systemCall("open \(temporaryPath)") {
            Glibc.open(temporaryPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        }
        do throws(IOError) {
            var written = 0
            while written < bytes.count {
                written += try systemCall("write \(temporaryPath)") {
                    bytes.withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress! + written, $0.count - written) }
                }
            }
            _ = try systemCall("fsync \(temporaryPath)") { fsync(descriptor) }
        } catch {
            _ = Glibc.close(descriptor)
            try? unlink(temporaryPath)
            throw error
        }
        _ = Glibc.close(descriptor)
        try rename(temporaryPath, to: path)
        let directory = (path as NSString).deletingLastPathComponent
        try syncDirectory(directory.isEmpty ? "." : directory)
    }
}
