import SiloCore

@testable import SiloS3

extension ByteRange {
    /// `length` bytes from `offset`, for tests that write ranges as numbers.
    package static func at(_ offset: Int64, _ length: Int64) -> ByteRange {
        ByteRange(offset: ByteCount(offset), length: ByteCount(length))
    }

    /// A `Range` header resolved against an object of `size` bytes: nil when the header is ignored (as S3
    /// ignores a malformed one), `InvalidRange` when nothing of the object is selected.
    package static func resolving(_ header: String, size: Int64) throws(S3Error) -> ByteRange? {
        guard let request = ByteRangeRequest(header: header) else { return nil }
        return try request.resolve(objectSize: ByteCount(size))
    }
}
