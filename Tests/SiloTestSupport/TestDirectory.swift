import Foundation

/// A fresh directory on a disk-backed file system (O_DIRECT is refused on tmpfs), removed by `remove()`.
public struct TestDirectory: Sendable {
    public let path: String

    public init() throws {
        let base = ProcessInfo.processInfo.environment["SILO_TEST_TMPDIR"] ?? "/var/tmp"
        path = base + "/silo-test-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    public func remove() { try? FileManager.default.removeItem(atPath: path) }
}
