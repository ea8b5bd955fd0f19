import Logging
import SiloCore
import SiloMetadata
import Testing

@testable import SiloGateway
@testable import SiloHTTP
@testable import SiloS3

/// The one place typed errors become S3 errors (`S3Gateway+Errors.swift`): what the data path, the
/// metadata store and the protocol layer throw, the client sees as S3's code and status.
@Suite struct ErrorMappingTests {
    static func mapped(_ error: any Error) -> S3Error {
        S3Gateway.s3Error(for: error, logger: Logger(label: "test"), requestID: "test")
    }

    @Test func dataPathRefusals() throws {
        let cases: [(GatewayError, S3ErrorCode)] = [
            (.objectTooLarge(declaredBytes: 11, limitBytes: 10), .entityTooLarge),
            (.objectTooLarge(declaredBytes: nil, limitBytes: 10), .entityTooLarge),
            (.bodyLongerThanDeclared(declaredBytes: 5), .invalidRequest),
            (.bodyShorterThanDeclared(receivedBytes: 4, declaredBytes: 5), .incompleteBody),
            (.sha256Mismatch, .xAmzContentSHA256Mismatch),
            (.md5Mismatch, .badDigest),
            (.tooManyUploads(limit: 1), .slowDown),
            (.notEnoughNodes(reason: "1 of 2"), .serviceUnavailable),
            (.chunkUnreadable(try ChunkID("c1"), failures: ["n1: gone"]), .serviceUnavailable),
        ]
        for (error, code) in cases {
            #expect(Self.mapped(error).code == code, "\(error)")
        }
        #expect(Self.mapped(GatewayError.objectTooLarge(declaredBytes: 11, limitBytes: 10)).message.contains("11"))
        #expect(Self.mapped(ChecksumError.mismatch(.crc32c)).code == .badDigest)
        #expect(Self.mapped(ChecksumError.invalidValue(.sha256)).code == .invalidRequest)
    }

    /// A failing replica or an unreachable node is retryable (503), never a 500 or a client error.
    @Test func nodeFailuresAreServiceUnavailable() throws {
        let replica = ReplicaWriteError(node: try NodeID("n1"), chunk: try ChunkID("c1"), underlying: CancellationError())
        #expect(Self.mapped(replica).code == .serviceUnavailable)
        let receipt = ReplicaWriteError(node: try NodeID("n1"), chunk: try ChunkID("c1"), underlying: ReceiptMismatch(
            storedBytes: 1, storedCRC32C: 1, sentBytes: 2, sentCRC32C: 2))
        #expect(Self.mapped(receipt).code == .serviceUnavailable)
        #expect(S3Error(.serviceUnavailable).httpStatus == 503)
    }

    /// Completion refusals and missing things from the store (MultipartPipelineTests produce them).
    @Test func metadataRefusals() throws {
        let bucket = try BucketName("bkt")
        let cases: [(MetadataError, S3ErrorCode)] = [
            (.noSuchBucket(bucket), .noSuchBucket),
            (.bucketAlreadyExists(bucket), .bucketAlreadyOwnedByYou),
            (.bucketNotEmpty(bucket), .bucketNotEmpty),
            (.noSuchUpload("u"), .noSuchUpload),
            (.invalidPart(partNumber: 3), .invalidPart),
            (.invalidPartOrder, .invalidPartOrder),
            (.entityTooSmall(partNumber: 1, size: ByteCount(1_000)), .entityTooSmall),
            (.entityTooLarge(size: ByteCount(1)), .entityTooLarge),
            (.preconditionFailed, .preconditionFailed),
            (.noSuchKey, .noSuchKey),
            (.invalidContinuationToken, .invalidArgument),
        ]
        for (error, code) in cases {
            #expect(Self.mapped(error).code == code, "\(error)")
        }
        #expect(Self.mapped(MetadataError.noSuchBucket(bucket)).resource == "/bkt")
    }

    @Test func anythingUnforeseenIsAnInternalError() {
        struct Unforeseen: Error {}
        #expect(Self.mapped(Unforeseen()).code == .internalError)
    }
}
