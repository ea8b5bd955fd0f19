import Testing

@testable import SiloS3

@Suite struct S3ErrorCodeTests {
    @Test func statuses() {
        let expected: [S3ErrorCode: Int] = [
            .noSuchKey: 404, .noSuchBucket: 404, .noSuchUpload: 404, .entityTooLarge: 400, .entityTooSmall: 400,
            .invalidArgument: 400, .malformedXML: 400, .invalidPart: 400, .invalidPartOrder: 400,
            .invalidBucketName: 400, .keyTooLongError: 400, .xAmzContentSHA256Mismatch: 400, .badDigest: 400,
            .invalidDigest: 400, .malformedTrailerError: 400, .signatureDoesNotMatch: 403, .invalidAccessKeyId: 403, .accessDenied: 403,
            .requestTimeTooSkewed: 403, .methodNotAllowed: 405, .bucketNotEmpty: 409, .bucketAlreadyOwnedByYou: 409,
            .missingContentLength: 411, .preconditionFailed: 412, .invalidRange: 416, .notModified: 304,
            .internalError: 500, .notImplemented: 501, .serviceUnavailable: 503,
        ]
        for (code, status) in expected { #expect(code.httpStatus == status, "\(code)") }
        #expect(!S3ErrorCode.notModified.hasBody)
        #expect(S3ErrorCode.allCases.allSatisfy { !$0.defaultMessage.isEmpty && $0.rawValue.first!.isUppercase })
    }
}
