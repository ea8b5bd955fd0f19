import SiloGateway
import SiloS3
import Foundation
import HTTPTypes
import Hummingbird
import SiloCore
import SiloMetadata

/// CopyObject and UploadPartCopy, server-side: the gateway streams the source's chunks from their replicas
/// into a new upload (new chunk ids, new replicas), so no byte goes through the client. Chunks are never
/// shared between objects: GC deletes a version's chunks when the version goes, without reference counts.
extension S3Gateway {
    static let copySourceHeader = HTTPField.Name("x-amz-copy-source")!

    func copyObject(_ bucket: BucketName, _ key: ObjectKey, _ request: S3Request) async throws -> Response {
        let (source, object) = try await copySource(request)
        var upload = UploadRequest(bucket: bucket, key: key)
        switch request.header("x-amz-metadata-directive")?.uppercased() {
        case nil, "COPY":
            guard source.bucket != bucket || source.key != key else {
                throw S3Error(.invalidRequest, message: "This copy request is illegal because it is trying to copy an "
                              + "object to itself without changing the object's metadata, storage class, website "
                              + "redirect location or encryption attributes.")
            }
            upload.contentType = object.attributes.contentType
            upload.userMetadata = object.attributes.userMetadata
        case "REPLACE":
            if let contentType = request.headers[.contentType] {
                guard MediaType.isValid(contentType) else {
                    throw S3Error(.invalidArgument, message: "The Content-Type '\(contentType)' is not a valid media type.")
                }
                upload.contentType = contentType
            }
            upload.userMetadata = Self.userMetadata(request.headers)
        case let other?:
            throw S3Error(.invalidArgument, message: "Unknown metadata directive: \(other).")
        }
        upload.destination = .object(try Self.writeCondition(request))
        let copied = try await copy(object, range: nil, into: upload)
        let result = CopyObjectResult(lastModified: Date(), etag: copied.etag)
        return Self.xmlResponse(result.xml())
    }

    func uploadPartCopy(_ bucket: BucketName, _ key: ObjectKey, _ upload: MultipartUploadID, partNumber: Int,
                        _ request: S3Request) async throws -> Response {
        guard try await store.multipartUpload(upload, bucket: bucket, key: key) != nil else {
            throw S3Error(.noSuchUpload, resource: request.resource)
        }
        let (_, object) = try await copySource(request)
        let range = try request.header("x-amz-copy-source-range").map { header throws(S3Error) in
            try CopySource.range(header: header, objectSize: object.attributes.size)
        }
        var part = UploadRequest(bucket: bucket, key: key)
        part.destination = .part(upload, partNumber: partNumber)
        let copied = try await copy(object, range: range, into: part)
        let result = CopyObjectResult(lastModified: Date(), etag: copied.etag, isPart: true)
        return Self.xmlResponse(result.xml())
    }

    /// The source object, after its `x-amz-copy-source-if-*` conditions (412 `PreconditionFailed` when one
    /// fails, as S3 answers for all four).
    private func copySource(_ request: S3Request) async throws -> (CopySource, ObjectRecord) {
        guard let header = request.headers[Self.copySourceHeader] else {
            preconditionFailure("copy operations are chosen by their x-amz-copy-source header")
        }
        let source = try CopySource(header: header)
        guard let object = try await store.object(bucket: source.bucket, key: source.key) else {
            throw S3Error(.noSuchKey, resource: "/" + source.bucket.value + "/" + source.key.value)
        }
        let conditions = ConditionalRequest(
            ifMatch: request.header("x-amz-copy-source-if-match"),
            ifNoneMatch: request.header("x-amz-copy-source-if-none-match"),
            ifModifiedSince: request.header("x-amz-copy-source-if-modified-since"),
            ifUnmodifiedSince: request.header("x-amz-copy-source-if-unmodified-since"))
        let current = ConditionalRequest.Current(etag: object.attributes.etag, lastModified: object.lastModified)
        guard conditions.evaluate(current: current, isRead: true) == .proceed else {
            throw S3Error(.preconditionFailed, resource: request.resource)
        }
        return (source, object)
    }

    /// Streams `range` of `object` (all of it when nil) into `upload`, through the download and upload
    /// pipelines. Copies of each byte: the download pipeline's (node message into a buffer), then the upload
    /// pipeline's (into each replica's PutChunk message).
    private func copy(_ object: ObjectRecord, range: ByteRange?, into upload: UploadRequest) async throws
        -> UploadedObject
    {
        let range = range ?? ByteRange(offset: .zero, length: object.attributes.size)
        guard range.length.bytes <= limits.objectBytesMax else {
            throw S3Error(.entityTooLarge, message: "The copy source is \(range.length.bytes) bytes; at most "
                          + "\(limits.objectBytesMax) are allowed.")
        }
        var upload = upload
        upload.contentLength = range.length.bytes
        guard range.length.bytes > 0 else {
            return try await uploads.upload(upload, body: CopySourceBody(started: nil))
        }
        let started = try await downloads.start(object, range: range)
        defer { started.cancel() }
        return try await uploads.upload(upload, body: CopySourceBody(started: started))
    }
}
