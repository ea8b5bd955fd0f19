/// Why an aws-chunked body was refused. Each case maps to the S3 error a client expects.
package enum AWSChunkedError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A chunk header line that is not `hex-size[;chunk-signature=<64 hex>]`, is too long, or data not
    /// followed by CRLF; the reason says which.
    case malformedChunk(String)
    /// A chunk header announcing more than `AWSChunkedLimits.chunkBytesMax` bytes.
    case chunkTooLarge(limitBytes: Int)
    /// A chunk whose signature is not the one its data and the previous signature give; 0 is the first chunk.
    case chunkSignatureMismatch(chunkIndex: Int)
    /// More payload than `x-amz-decoded-content-length` announced; refused at the chunk header that says so.
    case decodedLengthExceeded(expected: Int64)
    /// The body ended with less payload than `x-amz-decoded-content-length` announced.
    case decodedLengthShort(expected: Int64, received: Int64)
    /// The body ended before the final chunk and its trailer were complete.
    case truncated
    /// Bytes after the end of the trailer.
    case dataAfterEnd
    /// A trailer line that cannot be read, is not allowed here, or is over the trailer limits.
    case malformedTrailer(String)
    /// A trailer the `x-amz-trailer` header announced did not come.
    case missingTrailer(String)
    /// A signed-trailer body whose `x-amz-trailer-signature` is absent or wrong.
    case trailerSignatureMismatch

    package var description: String { s3Error.message }

    /// The S3 error the client gets.
    package var s3Error: S3Error {
        switch self {
        case .malformedChunk(let reason):
            return S3Error(.invalidRequest, message: "Malformed aws-chunked encoding: \(reason)")
        case .chunkTooLarge(let limit):
            return S3Error(.invalidRequest, message: "An aws-chunked chunk is larger than \(limit) bytes.")
        case .chunkSignatureMismatch, .trailerSignatureMismatch:
            return S3Error(.signatureDoesNotMatch)
        case .decodedLengthExceeded(let expected):
            return S3Error(.incompleteBody,
                           message: "The body holds more than the \(expected) bytes of x-amz-decoded-content-length.")
        case .decodedLengthShort(let expected, let received):
            return S3Error(.incompleteBody, message: "The body holds \(received) bytes where "
                + "x-amz-decoded-content-length announced \(expected).")
        case .truncated:
            return S3Error(.incompleteBody, message: "The aws-chunked body ended before its final chunk.")
        case .dataAfterEnd:
            return S3Error(.invalidRequest, message: "Data follows the end of the aws-chunked body.")
        case .malformedTrailer(let reason):
            return S3Error(.malformedTrailerError, message: S3ErrorCode.malformedTrailerError.defaultMessage
                + " " + reason)
        case .missingTrailer(let name):
            return S3Error(.malformedTrailerError, message: "The trailer \(name) announced in x-amz-trailer is missing.")
        }
    }
}
