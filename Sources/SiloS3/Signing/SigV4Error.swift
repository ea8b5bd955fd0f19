/// Why a request failed SigV4 authentication. Each case maps to the S3 error a client expects.
package enum SigV4Error: Error, Sendable, Equatable, CustomStringConvertible {
    /// Neither an `Authorization` header nor `X-Amz-Algorithm` in the query. Silo has no anonymous access.
    case missingAuthentication
    /// An algorithm other than AWS4-HMAC-SHA256 (SigV2 included, which Silo does not support).
    case unsupportedAlgorithm(String)
    /// The `Authorization` header cannot be parsed; the reason says which part.
    case authorizationHeaderMalformed(String)
    /// The presigned query parameters cannot be parsed or are out of range.
    case authorizationQueryMalformed(String)
    case invalidAccessKeyId(String)
    case signatureDoesNotMatch
    /// Header authentication more than the allowed skew away from the server's clock.
    case requestTimeTooSkewed
    /// A presigned URL past `X-Amz-Date + X-Amz-Expires`.
    case expired
    /// A presigned URL dated further in the future than the allowed skew.
    case notYetValid
    /// No `x-amz-date` nor `Date` header, or one that cannot be read.
    case missingDate
    /// Header authentication without `x-amz-content-sha256`, which S3 requires.
    case missingContentSHA256
    /// An `x-amz-content-sha256` that is neither a SHA-256 nor one of the special values.
    case invalidContentSHA256(String)
    /// A path with a malformed percent escape.
    case invalidURI
    /// The key store could not be asked; not the client's fault.
    case credentialStoreUnavailable

    package var description: String { s3Error.message }

    /// The S3 error the client gets.
    package var s3Error: S3Error {
        switch self {
        case .missingAuthentication: return S3Error(.accessDenied, message: "Anonymous access is not allowed.")
        case .unsupportedAlgorithm(let algorithm):
            return S3Error(.invalidArgument,
                           message: "Unsupported authorization algorithm '\(algorithm)'; use AWS4-HMAC-SHA256.")
        case .authorizationHeaderMalformed(let reason):
            return S3Error(.authorizationHeaderMalformed, message: "The authorization header is malformed; \(reason)")
        case .authorizationQueryMalformed(let reason):
            return S3Error(.authorizationQueryParametersError, message: reason)
        case .invalidAccessKeyId: return S3Error(.invalidAccessKeyId)
        case .signatureDoesNotMatch: return S3Error(.signatureDoesNotMatch)
        case .requestTimeTooSkewed: return S3Error(.requestTimeTooSkewed)
        case .expired: return S3Error(.accessDenied, message: "Request has expired")
        case .notYetValid: return S3Error(.accessDenied, message: "Request is not valid yet")
        case .missingDate:
            return S3Error(.accessDenied, message: "AWS authentication requires a valid Date or x-amz-date header")
        case .missingContentSHA256:
            return S3Error(.invalidRequest, message: "Missing required header for this request: x-amz-content-sha256")
        case .invalidContentSHA256:
            return S3Error(.invalidArgument, message: "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, "
                + "STREAMING-AWS4-HMAC-SHA256-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER or a SHA-256 in hex")
        case .invalidURI: return S3Error(.invalidURI)
        case .credentialStoreUnavailable: return S3Error(.serviceUnavailable)
        }
    }
}
