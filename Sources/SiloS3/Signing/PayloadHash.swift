/// What the `x-amz-content-sha256` header (or, for presigned URLs, the absence of one) says about the body,
/// and so how the body must be checked as it streams in.
package enum PayloadHash: Sendable, Equatable {
    /// `UNSIGNED-PAYLOAD`: the body is not covered by the signature.
    case unsigned
    /// The lowercase hex SHA-256 of the whole body, to be compared once the body has been read.
    case sha256(String)
    /// `STREAMING-AWS4-HMAC-SHA256-PAYLOAD`: aws-chunked, every chunk signed.
    case streamingSigned
    /// `STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER`: aws-chunked, every chunk and the trailer signed.
    case streamingSignedTrailer
    /// `STREAMING-UNSIGNED-PAYLOAD-TRAILER`: aws-chunked, unsigned chunks, a checksum trailer.
    case streamingUnsignedTrailer

    /// Reads the header value; nil when it is none of the forms S3 accepts.
    package init?(headerValue: String) {
        switch headerValue {
        case "UNSIGNED-PAYLOAD": self = .unsigned
        case "STREAMING-AWS4-HMAC-SHA256-PAYLOAD": self = .streamingSigned
        case "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER": self = .streamingSignedTrailer
        case "STREAMING-UNSIGNED-PAYLOAD-TRAILER": self = .streamingUnsignedTrailer
        default:
            guard Hex.isLowercase(headerValue, count: 64) else { return nil }
            self = .sha256(headerValue)
        }
    }

    /// The value that goes into the canonical request, which is the header value verbatim.
    package var headerValue: String {
        switch self {
        case .unsigned: return "UNSIGNED-PAYLOAD"
        case .sha256(let hex): return hex
        case .streamingSigned: return "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
        case .streamingSignedTrailer: return "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
        case .streamingUnsignedTrailer: return "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
        }
    }

    /// Whether the body is aws-chunked framing rather than the object's bytes.
    package var isStreaming: Bool {
        switch self {
        case .unsigned, .sha256: return false
        case .streamingSigned, .streamingSignedTrailer, .streamingUnsignedTrailer: return true
        }
    }

    /// Whether each aws-chunked chunk carries a signature to verify.
    package var hasChunkSignatures: Bool { self == .streamingSigned || self == .streamingSignedTrailer }
}
