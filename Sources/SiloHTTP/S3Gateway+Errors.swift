import SiloGateway
import SiloS3
import GRPCCore
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import NIOHTTP1
import SiloCore
import SiloMetadata
import SiloPlacement

extension S3Gateway {
    /// The S3 error a failure becomes. Operating errors of the parts behind the gateway (PostgreSQL away, a
    /// node failing, too few nodes) are 503 `ServiceUnavailable`, which clients retry; anything unforeseen
    /// is a logged 500.
    static func s3Error(for error: any Error, logger: Logger, requestID: String) -> S3Error {
        switch error {
        case let error as S3Error:
            return error
        case let error as SigV4Error:
            return error.s3Error
        case let error as GatewayError:
            return s3Error(for: error)
        case let error as ChecksumError:
            return error.s3Error
        case let error as MetadataError:
            switch error {
            case .noSuchBucket(let bucket):
                return S3Error(.noSuchBucket, resource: "/" + bucket.value)
            case .bucketAlreadyExists(let bucket):
                return S3Error(.bucketAlreadyOwnedByYou, resource: "/" + bucket.value)
            case .bucketNotEmpty(let bucket):
                return S3Error(.bucketNotEmpty, resource: "/" + bucket.value)
            case .noSuchUpload: return S3Error(.noSuchUpload)
            case .invalidPart: return S3Error(.invalidPart, message: error.description)
            case .invalidPartOrder: return S3Error(.invalidPartOrder)
            case .entityTooSmall: return S3Error(.entityTooSmall, message: error.description)
            case .entityTooLarge: return S3Error(.entityTooLarge, message: error.description)
            case .preconditionFailed: return S3Error(.preconditionFailed)
            case .noSuchKey: return S3Error(.noSuchKey)
            case .invalidContinuationToken:
                return S3Error(.invalidArgument, message: "The continuation token provided is incorrect")
            default:
                logger.error("metadata refused a request", metadata: ["request": "\(requestID)", "error": "\(error)"])
                return S3Error(.internalError)
            }
        case let error as DatabaseError where error.isRetryable:
            logger.warning("database unavailable", metadata: ["request": "\(requestID)", "error": "\(error)"])
            return S3Error(.serviceUnavailable, message: "The metadata database is unavailable; retry later.")
        case is PlacementError:
            return S3Error(.serviceUnavailable, message: "Not enough storage nodes are up: \(error)")
        case let error as ReplicaWriteError:
            logger.warning("a replica refused a chunk", metadata: ["request": "\(requestID)", "error": "\(error)"])
            return S3Error(.serviceUnavailable, message: "A storage node failed while storing the object; retry.")
        case is NodeStalled:
            logger.warning("storage node stalled", metadata: ["request": "\(requestID)", "error": "\(error)"])
            return S3Error(.serviceUnavailable, message: "A storage node stopped answering; retry.")
        case is RPCError:
            logger.warning("storage node call failed", metadata: ["request": "\(requestID)", "error": "\(error)"])
            return S3Error(.serviceUnavailable, message: "A storage node failed; retry.")
        case let error as HTTPParserError:
            // The body's HTTP framing broke while it streamed (chunk sizes, a connection closed early).
            if error == .invalidEOFState {
                return S3Error(.incompleteBody, message: "The request body ended before its declared end.")
            }
            return S3Error(.invalidRequest, message: "The request body cannot be read: \(error).")
        case is CancellationError:
            return S3Error(.requestTimeout, message: "The request was cancelled.")
        default:
            logger.error("request failed", metadata: ["request": "\(requestID)", "error": "\(error)"])
            return S3Error(.internalError)
        }
    }

    /// The data path's refusals, in S3's words.
    static func s3Error(for error: GatewayError) -> S3Error {
        switch error {
        case .objectTooLarge(let declared?, let limit):
            return S3Error(.entityTooLarge, message: "The object is \(declared) bytes; at most \(limit) are allowed.")
        case .objectTooLarge(nil, let limit):
            return S3Error(.entityTooLarge, message: "The object exceeds \(limit) bytes.")
        case .bodyLongerThanDeclared:
            return S3Error(.invalidRequest, message: "The body is longer than its Content-Length.")
        case .bodyShorterThanDeclared(let received, let declared):
            return S3Error(.incompleteBody, message: "The body ended after \(received) of \(declared) bytes.")
        case .sha256Mismatch:
            return S3Error(.xAmzContentSHA256Mismatch,
                           message: "The provided 'x-amz-content-sha256' header does not match what was computed.")
        case .md5Mismatch:
            return S3Error(.badDigest, message: "The Content-MD5 you specified did not match what we received.")
        case .tooManyUploads:
            return S3Error(.slowDown, message: "Please reduce your request rate.")
        case .notEnoughNodes(let reason):
            return S3Error(.serviceUnavailable, message: "Not enough storage nodes are up: \(reason)")
        case .chunkUnreadable(let chunk, let failures):
            return S3Error(.serviceUnavailable,
                           message: "No replica of chunk \(chunk) could be read (\(failures.joined(separator: "; "))).")
        }
    }

    /// The XML error response; none for HEAD, whose responses have no body.
    static func errorResponse(_ error: S3Error, requestID: String, method: HTTPRequest.Method) -> Response {
        let status = HTTPResponse.Status(code: error.httpStatus)
        guard error.code.hasBody, method != .head else {
            return Response(status: status)
        }
        var response = xmlResponse(error.xml(requestID: requestID), status: status)
        if error.code == .serviceUnavailable || error.code == .slowDown {
            response.headers[.retryAfter] = "1"
        }
        return response
    }
}
