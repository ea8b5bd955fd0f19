#if canImport(Glibc)
import Glibc
#endif

/// An operating error from the I/O layer: a failed system call and its errno. Mapped to S3 or gRPC errors
/// at the edge, by `errno` value, never by message.
package struct IOError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What was being done ("pwrite", "open tmp/abc").
    package let operation: String
    /// The errno the kernel returned (negated io_uring results are turned positive).
    package let errno: Int32

    package init(_ operation: String, errno: Int32) {
        self.operation = operation
        self.errno = errno
    }

    package var isNoSpace: Bool { errno == ENOSPC || errno == EDQUOT }
    package var isNotFound: Bool { errno == ENOENT }
    package var isAlreadyExists: Bool { errno == EEXIST }

    package var description: String {
        "\(operation): \(String(cString: strerror(errno))) (errno \(errno))"
    }
}

/// Runs a system call, retrying on EINTR, and turns -1 into a typed `IOError`.
@inline(__always)
package func systemCall<T: FixedWidthInteger>(_ operation: @autoclosure () -> String,
                                               _ body: () -> T) throws(IOError) -> T {
    while true {
        let result = body()
        if result != -1 { return result }
        let code = Glibc.errno
        if code == EINTR { continue }
        throw IOError(operation(), errno: code)
    }
}
