/// The S3 error codes Silo answers with, each with the HTTP status S3 sends for it.
///
/// The raw value is the `<Code>` element of the XML error body, spelled exactly as S3 spells it: clients
/// (boto3, the aws cli, rclone) switch on these strings.
package enum S3ErrorCode: String, Sendable, CaseIterable {
    case accessDenied = "AccessDenied"
    case authorizationHeaderMalformed = "AuthorizationHeaderMalformed"
    case authorizationQueryParametersError = "AuthorizationQueryParametersError"
    case badDigest = "BadDigest"
    case bucketAlreadyExists = "BucketAlreadyExists"
    case bucketAlreadyOwnedByYou = "BucketAlreadyOwnedByYou"
    case bucketNotEmpty = "BucketNotEmpty"
    case entityTooLarge = "EntityTooLarge"
    case entityTooSmall = "EntityTooSmall"
    case incompleteBody = "IncompleteBody"
    case internalError = "InternalError"
    case invalidAccessKeyId = "InvalidAccessKeyId"
    case invalidArgument = "InvalidArgument"
    case invalidBucketName = "InvalidBucketName"
    case invalidDigest = "InvalidDigest"
    case invalidPart = "InvalidPart"
    case invalidPartOrder = "InvalidPartOrder"
    case invalidRange = "InvalidRange"
    case invalidRequest = "InvalidRequest"
    case invalidURI = "InvalidURI"
    case keyTooLongError = "KeyTooLongError"
    case malformedTrailerError = "MalformedTrailerError"
    case malformedXML = "MalformedXML"
    case methodNotAllowed = "MethodNotAllowed"
    case missingContentLength = "MissingContentLength"
    case missingSecurityHeader = "MissingSecurityHeader"
    case noSuchBucket = "NoSuchBucket"
    case noSuchKey = "NoSuchKey"
    case noSuchUpload = "NoSuchUpload"
    case notImplemented = "NotImplemented"
    case notModified = "NotModified"
    case preconditionFailed = "PreconditionFailed"
    case requestTimeout = "RequestTimeout"
    case requestTimeTooSkewed = "RequestTimeTooSkewed"
    case serviceUnavailable = "ServiceUnavailable"
    case signatureDoesNotMatch = "SignatureDoesNotMatch"
    case slowDown = "SlowDown"
    case xAmzContentSHA256Mismatch = "XAmzContentSHA256Mismatch"

    /// The HTTP status code S3 answers this error with.
    package var httpStatus: Int {
        switch self {
        case .notModified: return 304
        case .authorizationHeaderMalformed, .authorizationQueryParametersError, .badDigest, .entityTooLarge,
             .entityTooSmall, .incompleteBody, .invalidArgument, .invalidBucketName, .invalidDigest,
             .invalidPart, .invalidPartOrder, .invalidRequest, .invalidURI, .keyTooLongError, .malformedTrailerError,
             .malformedXML,
             .missingSecurityHeader, .requestTimeout, .xAmzContentSHA256Mismatch:
            return 400
        case .accessDenied, .invalidAccessKeyId, .requestTimeTooSkewed, .signatureDoesNotMatch: return 403
        case .noSuchBucket, .noSuchKey, .noSuchUpload: return 404
        case .methodNotAllowed: return 405
        case .bucketAlreadyExists, .bucketAlreadyOwnedByYou, .bucketNotEmpty: return 409
        case .missingContentLength: return 411
        case .preconditionFailed: return 412
        case .invalidRange: return 416
        case .internalError: return 500
        case .notImplemented: return 501
        case .serviceUnavailable, .slowDown: return 503
        }
    }

    /// Whether the response carries an XML error body. A 304 has no body at all (RFC 9110 §15.4.5).
    package var hasBody: Bool { self != .notModified }

    /// The message S3 sends with this code when there is nothing more specific to say.
    package var defaultMessage: String {
        switch self {
        case .accessDenied: return "Access Denied"
        case .authorizationHeaderMalformed: return "The authorization header is malformed."
        case .authorizationQueryParametersError: return "The authorization query parameters are malformed."
        case .badDigest: return "The Content-MD5 or checksum you specified did not match what we received."
        case .bucketAlreadyExists: return "The requested bucket name is not available."
        case .bucketAlreadyOwnedByYou:
            return "Your previous request to create the named bucket succeeded and you already own it."
        case .bucketNotEmpty: return "The bucket you tried to delete is not empty."
        case .entityTooLarge: return "Your proposed upload exceeds the maximum allowed object size."
        case .entityTooSmall: return "Your proposed upload is smaller than the minimum allowed object size."
        case .incompleteBody: return "You did not provide the number of bytes specified by the Content-Length HTTP header."
        case .internalError: return "We encountered an internal error. Please try again."
        case .invalidAccessKeyId: return "The AWS Access Key Id you provided does not exist in our records."
        case .invalidArgument: return "Invalid Argument"
        case .invalidBucketName: return "The specified bucket is not valid."
        case .invalidDigest: return "The Content-MD5 or checksum you specified is not valid."
        case .invalidPart:
            return "One or more of the specified parts could not be found. The part may not have been uploaded, "
                + "or the specified entity tag may not match the part's entity tag."
        case .invalidPartOrder: return "The list of parts was not in ascending order. Parts must be ordered by part number."
        case .invalidRange: return "The requested range is not satisfiable"
        case .invalidRequest: return "Invalid Request"
        case .invalidURI: return "Couldn't parse the specified URI."
        case .keyTooLongError: return "Your key is too long"
        case .malformedTrailerError:
            return "The request contained trailing data that was not well-formed or did not conform to our published schema."
        case .malformedXML:
            return "The XML you provided was not well-formed or did not validate against our published schema"
        case .methodNotAllowed: return "The specified method is not allowed against this resource."
        case .missingContentLength: return "You must provide the Content-Length HTTP header."
        case .missingSecurityHeader: return "Your request is missing a required header."
        case .noSuchBucket: return "The specified bucket does not exist"
        case .noSuchKey: return "The specified key does not exist."
        case .noSuchUpload:
            return "The specified upload does not exist. The upload ID may be invalid, "
                + "or the upload may have been aborted or completed."
        case .notImplemented: return "A header you provided implies functionality that is not implemented"
        case .notModified: return "Not Modified"
        case .preconditionFailed: return "At least one of the pre-conditions you specified did not hold"
        case .requestTimeout:
            return "Your socket connection to the server was not read from or written to within the timeout period."
        case .requestTimeTooSkewed: return "The difference between the request time and the current time is too large."
        case .serviceUnavailable: return "Please reduce your request rate."
        case .signatureDoesNotMatch:
            return "The request signature we calculated does not match the signature you provided. "
                + "Check your key and signing method."
        case .slowDown: return "Please reduce your request rate."
        case .xAmzContentSHA256Mismatch: return "The provided 'x-amz-content-sha256' header does not match what was computed."
        }
    }
}
