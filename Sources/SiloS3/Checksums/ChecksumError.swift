/// Why an `x-amz-checksum-*` value (header or trailer) was refused.
package enum ChecksumError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Not base64, or not the digest length of the algorithm.
    case invalidValue(ChecksumAlgorithm)
    /// Well formed, but not the checksum of the bytes received.
    case mismatch(ChecksumAlgorithm)

    package var description: String { s3Error.message }

    /// The S3 error the client gets, with the messages S3 uses.
    package var s3Error: S3Error {
        switch self {
        case .invalidValue(let algorithm):
            return S3Error(.invalidRequest, message: "Value for \(algorithm.headerName) header is invalid.")
        case .mismatch(let algorithm):
            return S3Error(.badDigest,
                           message: "The \(algorithm.rawValue) you specified did not match the calculated checksum.")
        }
    }
}
