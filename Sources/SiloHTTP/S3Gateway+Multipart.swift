import SiloGateway
import SiloS3
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import SiloCore
import SiloMetadata

/// Multipart uploads. A part is stored as an object's body is (same intake, chunking, replication and
/// commit path; `UploadDestination.part`), and CompleteMultipartUpload makes the chosen parts' chunks, in
/// order, the chunks of one new version: the download pipeline reads it like any other object.
extension S3Gateway {
    func createMultipartUpload(_ bucket: BucketName, _ key: ObjectKey, _ request: S3Request) async throws -> Response {
        var contentType: String?
        if let value = request.headers[.contentType] {
            guard MediaType.isValid(value) else {
                throw S3Error(.invalidArgument, message: "The Content-Type '\(value)' is not a valid media type.")
            }
            contentType = value
        }
        let upload = try await store.createMultipartUpload(
            bucket: bucket, key: key, contentType: contentType, userMetadata: Self.userMetadata(request.headers))
        let result = InitiateMultipartUploadResult(bucket: bucket.value, key: key.value, uploadID: upload.value)
        return Self.xmlResponse(result.xml())
    }

    /// UploadPart: the body goes through PutObject's intake, committed as part `partNumber`.
    func uploadPart(_ bucket: BucketName, _ key: ObjectKey, _ upload: MultipartUploadID, partNumber: Int,
                    _ request: S3Request, verification: SigV4Verification, body: RequestBody,
                    context: S3RequestContext) async throws -> Response {
        // Checked before the body is read, so a wrong id costs no transfer; the commit checks it again.
        guard try await store.multipartUpload(upload, bucket: bucket, key: key) != nil else {
            throw S3Error(.noSuchUpload, resource: request.resource)
        }
        return try await putObject(bucket, key, request, verification: verification, body: body, context: context,
                                   destination: .part(upload, partNumber: partNumber))
    }

    func completeMultipartUpload(_ bucket: BucketName, _ key: ObjectKey, _ upload: MultipartUploadID,
                                 _ request: S3Request, body: RequestBody,
                                 context: S3RequestContext) async throws -> Response {
        let condition = try Self.writeCondition(request)
        context.continueIfExpected()
        let bytes = try await Self.collectXMLBody(body, limit: limits.xmlBodyBytesMax)
        let completion = try CompleteMultipartUploadRequest(xml: bytes,
                                                            parser: XMLBodyParser(bytesMax: limits.xmlBodyBytesMax))
        guard let etag = MultipartETag.compute(partETags: completion.parts.map(\.etag)) else {
            throw S3Error(.invalidPart, resource: request.resource)
        }
        do {
            _ = try await store.completeMultipartUpload(
                upload, bucket: bucket, key: key, parts: completion.parts.map { ($0.partNumber, $0.etag) },
                etag: etag, condition: condition, partBytesMin: limits.multipartPartBytesMin,
                objectBytesMax: limits.objectBytesMax)
        } catch MetadataError.noSuchUpload {
            throw S3Error(.noSuchUpload, resource: request.resource)
        }
        let host = request.signed.header("host") ?? "localhost"
        let result = CompleteMultipartUploadResult(location: "http://" + host + request.rawPath, bucket: bucket.value,
                                                   key: key.value, etag: etag)
        return Self.xmlResponse(result.xml())
    }

    func abortMultipartUpload(_ bucket: BucketName, _ key: ObjectKey, _ upload: MultipartUploadID) async throws
        -> Response
    {
        try await store.abortMultipartUpload(upload, bucket: bucket, key: key)
        return Response(status: .noContent)
    }

    func listParts(_ bucket: BucketName, _ key: ObjectKey, _ upload: MultipartUploadID, _ request: S3Request)
        async throws -> Response
    {
        let maxParts = try Self.count(request.query["max-parts"], name: "max-parts", default: limits.listKeysMax)
        let marker = try Self.count(request.query["part-number-marker"], name: "part-number-marker", default: 0)
        let urlEncoded = try Self.urlEncoding(request)
        let page = maxParts == 0
            ? MultipartPage(entries: [], isTruncated: false)
            : try await store.listParts(upload, bucket: bucket, key: key, after: marker,
                                        maxParts: min(maxParts, limits.listKeysMax))
        if maxParts == 0, try await store.multipartUpload(upload, bucket: bucket, key: key) == nil {
            throw MetadataError.noSuchUpload(upload.value)
        }
        let result = ListPartsResult(
            bucket: bucket.value, key: key.value, uploadID: upload.value, partNumberMarker: marker,
            maxParts: maxParts, isTruncated: page.isTruncated,
            parts: page.entries.map {
                .init(partNumber: $0.partNumber, lastModified: $0.lastModified, etag: $0.etag, size: $0.size.bytes)
            },
            ownerID: Self.ownerID, urlEncoded: urlEncoded)
        return Self.xmlResponse(result.xml())
    }

    func listMultipartUploads(_ bucket: BucketName, _ request: S3Request) async throws -> Response {
        let query = request.query
        if let delimiter = query["delimiter"], !delimiter.isEmpty {
            throw S3Error(.notImplemented, message: "ListMultipartUploads with a delimiter is not implemented.")
        }
        let maxUploads = try Self.count(query["max-uploads"], name: "max-uploads", default: limits.listKeysMax)
        let urlEncoded = try Self.urlEncoding(request)
        let prefix = query["prefix"] ?? ""
        let keyMarker = query["key-marker"] ?? ""
        // S3 ignores upload-id-marker without key-marker.
        let uploadIDMarker = keyMarker.isEmpty ? "" : query["upload-id-marker"] ?? ""
        let page: MultipartPage<MultipartUploadRecord>
        if maxUploads == 0 {
            guard try await store.bucketExists(bucket) else { throw MetadataError.noSuchBucket(bucket) }
            page = MultipartPage(entries: [], isTruncated: false)
        } else {
            page = try await store.listMultipartUploads(bucket: bucket, prefix: prefix, keyMarker: keyMarker,
                                                        uploadIDMarker: uploadIDMarker,
                                                        maxUploads: min(maxUploads, limits.listKeysMax))
        }
        let result = ListMultipartUploadsResult(
            bucket: bucket.value, prefix: prefix, keyMarker: keyMarker, uploadIDMarker: uploadIDMarker,
            maxUploads: maxUploads, isTruncated: page.isTruncated,
            uploads: page.entries.map { .init(key: $0.key.value, uploadID: $0.uploadID.value, initiated: $0.initiated) },
            ownerID: Self.ownerID, urlEncoded: urlEncoded)
        return Self.xmlResponse(result.xml())
    }

    // MARK: - Request pieces

    /// A non-negative integer query parameter (`max-parts`, `part-number-marker`, `max-uploads`).
    static func count(_ text: String?, name: String, default value: Int) throws -> Int {
        guard let text else { return value }
        guard let number = Int(text), number >= 0 else {
            throw S3Error(.invalidArgument, message: "Provided \(name) not an integer or within integer range")
        }
        return number
    }

    static func urlEncoding(_ request: S3Request) throws -> Bool {
        switch request.query["encoding-type"] {
        case nil: return false
        case "url": return true
        case let other?: throw S3Error(.invalidArgument, message: "Invalid Encoding Method specified in Request: \(other)")
        }
    }

    /// An XML request body, whole: bodies over `limit` are `MalformedXML`, as S3 answers for them.
    static func collectXMLBody(_ body: RequestBody, limit: Int) async throws -> [UInt8] {
        let buffer: ByteBuffer
        do {
            buffer = try await body.collect(upTo: limit)
        } catch is NIOTooManyBytesError {
            throw XMLBodyError.tooLarge("the body is over \(limit) bytes").s3Error
        }
        return Array(buffer.readableBytesView)
    }

    /// The conditional write headers of PutObject, CompleteMultipartUpload and CopyObject: `If-None-Match`
    /// (only `*`, as S3) and `If-Match` (one ETag, or `*`).
    static func writeCondition(_ request: S3Request) throws -> WriteCondition {
        var condition = WriteCondition()
        if let value = request.headers[.ifNoneMatch] {
            guard value.trimmingCharacters(in: .whitespaces) == "*" else {
                throw S3Error(.notImplemented, message: "If-None-Match on a write only supports '*'.")
            }
            condition.ifNoneMatch = true
        }
        if let value = request.headers[.ifMatch] {
            var tag = value.trimmingCharacters(in: .whitespaces)[...]
            if tag.count >= 2, tag.hasPrefix("\""), tag.hasSuffix("\"") { tag = tag.dropFirst().dropLast() }
            guard !tag.isEmpty, !tag.contains(",") else {
                throw S3Error(.invalidArgument, message: "If-Match on a write takes one ETag.")
            }
            condition.ifMatch = String(tag)
        }
        return condition
    }
}
