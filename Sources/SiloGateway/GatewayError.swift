import SiloCore

/// Why the data path refused or failed a request. The HTTP edge turns each case into an S3 error
/// (`S3Gateway+Errors.swift`); nothing below the edge decides S3 codes.
package enum GatewayError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The object would exceed the size limit: `declaredBytes` when the request announced its length, nil
    /// when the body went past the limit while streaming.
    case objectTooLarge(declaredBytes: Int64?, limitBytes: Int64)
    /// More bytes arrived than the request declared.
    case bodyLongerThanDeclared(declaredBytes: Int64)
    /// The body ended before its declared length.
    case bodyShorterThanDeclared(receivedBytes: Int64, declaredBytes: Int64)
    /// The body's SHA-256 is not the one the client signed.
    case sha256Mismatch
    /// The body's MD5 is not the client's `Content-MD5`.
    case md5Mismatch
    /// `limit` uploads already stream through this gateway.
    case tooManyUploads(limit: Int)
    /// Too few nodes could take a chunk's replicas.
    case notEnoughNodes(reason: String)
    /// No replica of a chunk could be read.
    case chunkUnreadable(ChunkID, failures: [String])

    package var description: String {
        switch self {
        case .objectTooLarge(let declared?, let limit): "the object is \(declared) bytes; at most \(limit) are allowed"
        case .objectTooLarge(nil, let limit): "the object exceeds \(limit) bytes"
        case .bodyLongerThanDeclared(let declared): "the body is longer than its declared \(declared) bytes"
        case .bodyShorterThanDeclared(let received, let declared):
            "the body ended after \(received) of \(declared) bytes"
        case .sha256Mismatch: "the body's SHA-256 differs from the signed one"
        case .md5Mismatch: "the body's MD5 differs from Content-MD5"
        case .tooManyUploads(let limit): "\(limit) uploads are in flight already"
        case .notEnoughNodes(let reason): "not enough storage nodes: \(reason)"
        case .chunkUnreadable(let chunk, let failures):
            "no replica of chunk \(chunk) could be read (\(failures.joined(separator: "; ")))"
        }
    }
}

/// A replica acknowledged a chunk with another size or CRC32C than the gateway sent.
package struct ReceiptMismatch: Error, Sendable, CustomStringConvertible {
    package var storedBytes: Int64
    package var storedCRC32C: UInt32
    package var sentBytes: Int64
    package var sentCRC32C: UInt32

    package var description: String {
        "node stored \(storedBytes) bytes with CRC32C \(storedCRC32C); sent \(sentBytes) with \(sentCRC32C)"
    }
}
