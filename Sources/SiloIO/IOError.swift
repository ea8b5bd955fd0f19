#if canImport(Glibc)
import Glibc
#endif

/// An operating error from the I/O layer: a failed system call and its errno. Mapped to S3 or gRPC errors
/// at the edge, by `errno` value, never by message.
public struct IOError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What was being done ("pwrite", "open tmp/abc").
    public let operation: String
    /// The errno the kernel returned (negated io_uring results are turned positive).
    public let errno: Int32

    public init(_ operation: String, errno: Int32) {
        self.operation = operation
        self.errno = errno
    }

    public var isNoSpace: Bool { errno == ENOSPC || errno == EDQUOT }
    public var isNotFound: Bool { errno == ENOENT }
    public var isAlreadyExists: Bool { errno == EEXIST }

    public var description: String {
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
