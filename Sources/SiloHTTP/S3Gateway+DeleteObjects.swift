import SiloGateway
import SiloS3
import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import SiloCore
import SiloMetadata

extension S3Gateway {
    /// DeleteObjects: up to 1000 keys in one request and one transaction. S3 requires the body's integrity:
    /// `Content-MD5` or an `x-amz-checksum-*` header (what current SDKs send instead), checked here.
    /// Keys that cannot exist are reported as errors of their own; keys without a current version are
    /// reported deleted, as S3 does.
    func deleteObjects(_ bucket: BucketName, _ request: S3Request, body: RequestBody,
                       context: S3RequestContext) async throws -> Response {
        let md5Header = request.header("Content-MD5")
        let checksumHeaders = ChecksumAlgorithm.allCases.compactMap { algorithm in
            request.header(algorithm.headerName).map { (algorithm, $0) }
        }
        guard md5Header != nil || !checksumHeaders.isEmpty else {
            throw S3Error(.invalidRequest, message: "Missing required header for this request: Content-MD5")
        }
        context.continueIfExpected()
        let bytes = try await Self.collectXMLBody(body, limit: limits.xmlBodyBytesMax)
        if let md5Header {
            guard let expected = Data(base64Encoded: md5Header), expected.count == 16 else {
                throw S3Error(.invalidDigest, message: "The Content-MD5 you specified is not valid.")
            }
            guard Array(expected) == Array(Insecure.MD5.hash(data: bytes)) else {
                throw S3Error(.badDigest, message: "The Content-MD5 you specified did not match what we received.")
            }
        }
        for (algorithm, value) in checksumHeaders {
            var computer = ChecksumComputer(algorithm)
            computer.update(bytes)
            do { try computer.verify(expectedBase64: value) } catch { throw error.s3Error }
        }
        let batch = try DeleteObjectsRequest(xml: bytes, parser: XMLBodyParser(bytesMax: limits.xmlBodyBytesMax))

        var keys: [ObjectKey] = []
        var deleted: [String] = []
        var failures: [DeleteResult.Failure] = []
        for object in batch.objects {
            if let version = object.versionID, version != "null" {
                failures.append(.init(key: object.key, code: .invalidArgument, message: "Invalid version id specified"))
                continue
            }
            do {
                keys.append(try ObjectKey(object.key))
                deleted.append(object.key)
            } catch {
                let tooLong = object.key.utf8.count > ObjectKey.bytesMax
                failures.append(.init(key: object.key, code: tooLong ? .keyTooLongError : .invalidArgument,
                                      message: tooLong ? nil : "The object key is not valid: \(error)."))
            }
        }
        try await store.deleteObjects(bucket: bucket, keys: keys)
        return Self.xmlResponse(DeleteResult(deleted: deleted, failures: failures, quiet: batch.quiet).xml())
    }
}
