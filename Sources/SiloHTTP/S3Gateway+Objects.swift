import SiloGateway
import SiloS3
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import SiloCore
import SiloMetadata

extension S3Gateway {
    static let userMetadataPrefix = "x-amz-meta-"

    /// PutObject, and UploadPart (`destination` a part): a part's body is taken exactly as an object's.
    func putObject(_ bucket: BucketName, _ key: ObjectKey, _ request: S3Request, verification: SigV4Verification,
                   body: RequestBody, context: S3RequestContext,
                   destination: UploadDestination? = nil) async throws -> Response {
        let payload = try UploadPayload(request, verification: verification)
        var upload = UploadRequest(bucket: bucket, key: key)
        upload.contentLength = payload.objectLength
        if let length = upload.contentLength, length > limits.objectBytesMax {
            throw S3Error(.entityTooLarge, message: "Your proposed upload of \(length) bytes exceeds the maximum allowed object size of \(limits.objectBytesMax) bytes.")
        }
        if let contentType = request.headers[.contentType] {
            guard MediaType.isValid(contentType) else {
                throw S3Error(.invalidArgument, message: "The Content-Type '\(contentType)' is not a valid media type.")
            }
            upload.contentType = contentType
        }
        upload.expectedSHA256 = payload.expectedSHA256
        upload.checksumAlgorithm = payload.checksum?.algorithm
        upload.expectedChecksum = { try payload.expectedChecksumValue() }
        if let md5 = request.headers[HTTPField.Name("Content-MD5")!] {
            guard let digest = Data(base64Encoded: md5), digest.count == 16 else {
                throw S3Error(.invalidDigest, message: "The Content-MD5 you specified is not valid.")
            }
            upload.expectedMD5 = Array(digest)
        }
        upload.userMetadata = Self.userMetadata(request.headers)
        upload.destination = try destination ?? .object(Self.writeCondition(request))

        let uploads = self.uploads
        let metrics = self.metrics
        let counted = CountingBody(body: body, onBytes: { metrics.received(bytes: $0) })
        let stored = try await uploads.upload(upload, body: payload.objectBytes(of: counted),
                                              beforeBody: { context.continueIfExpected() })
        var headers = HTTPFields()
        headers[.eTag] = "\"\(stored.etag)\""
        if let algorithm = upload.checksumAlgorithm, let value = stored.checksum {
            headers[HTTPField.Name(algorithm.headerName)!] = value
        }
        headers[.contentLength] = "0"
        return Response(status: .ok, headers: headers)
    }

    func getObject(_ bucket: BucketName, _ key: ObjectKey, _ request: S3Request, headOnly: Bool) async throws -> Response {
        guard let object = try await store.object(bucket: bucket, key: key) else {
            throw S3Error(.noSuchKey, resource: request.resource)
        }
        let attributes = object.attributes
        var headers = Self.objectHeaders(object)
        let conditions = ConditionalRequest(headers: request.signed)
        switch conditions.evaluate(current: .init(etag: attributes.etag, lastModified: object.lastModified), isRead: true) {
        case .proceed: break
        case .notModified:
            headers[.contentLength] = nil
            headers[.contentType] = nil
            return Response(status: .notModified, headers: headers)
        case .preconditionFailed: throw S3Error(.preconditionFailed, resource: request.resource)
        }

        let size = attributes.size
        var range = ByteRange(offset: .zero, length: size)
        var status = HTTPResponse.Status.ok
        if let rangeHeader = request.headers[.range], let wanted = ByteRangeRequest(header: rangeHeader) {
            range = try wanted.resolve(objectSize: size)
            status = .partialContent
            headers[.contentRange] = range.contentRange(objectSize: size)
        }
        headers[.contentLength] = String(range.length.bytes)
        for (parameter, field) in Self.responseOverrides {
            if let value = request.query[parameter] { headers[field] = value }
        }
        if status == .ok, request.headers[Self.checksumMode]?.uppercased() == "ENABLED" {
            Self.addChecksumHeaders(attributes.checksums, to: &headers)
        }
        if headOnly || range.length.bytes == 0 {
            return Response(status: status, headers: headers)
        }
        let started = try await downloads.start(object, range: range)
        let metrics = self.metrics
        return Response(status: status, headers: headers, body: ResponseBody(contentLength: Int(range.length.bytes)) { writer in
            do {
                try await started.forEach { piece in
                    metrics.sent(bytes: piece.readableBytes)
                    try await writer.write(piece)
                }
                try await writer.finish(nil)
            } catch {
                started.cancel()
                throw error
            }
        })
    }

    func deleteObject(_ bucket: BucketName, _ key: ObjectKey) async throws -> Response {
        try await store.deleteObject(bucket: bucket, key: key)
        return Response(status: .noContent)
    }

    static func objectHeaders(_ object: ObjectRecord) -> HTTPFields {
        var headers = HTTPFields()
        headers[.eTag] = "\"\(object.attributes.etag)\""
        headers[.lastModified] = HTTPDate.format(object.lastModified)
        headers[.contentType] = object.attributes.contentType ?? "binary/octet-stream"
        headers[.acceptRanges] = "bytes"
        for (name, value) in object.attributes.userMetadata.sorted(by: { $0.key < $1.key }) {
            if let field = HTTPField.Name(userMetadataPrefix + name) { headers[field] = value }
        }
        return headers
    }

    /// GetObject's `response-*` query parameters and the response headers they set (presigned downloads
    /// use them to name the file a browser saves).
    static let responseOverrides: [(String, HTTPField.Name)] = [
        ("response-content-type", .contentType), ("response-content-language", .contentLanguage),
        ("response-expires", .expires), ("response-cache-control", .cacheControl),
        ("response-content-disposition", .contentDisposition), ("response-content-encoding", .contentEncoding),
    ]
    static let checksumMode = HTTPField.Name("x-amz-checksum-mode")!
    static let checksumType = HTTPField.Name("x-amz-checksum-type")!

    /// The stored `x-amz-checksum-*` values, sent on a whole-object GET or HEAD with
    /// `x-amz-checksum-mode: ENABLED`. A multipart object's checksum of part checksums ends in `-N`.
    static func addChecksumHeaders(_ checksums: [String: String], to headers: inout HTTPFields) {
        for (name, value) in checksums.sorted(by: { $0.key < $1.key }) {
            guard let algorithm = ChecksumAlgorithm(name: name) else { continue }
            headers[HTTPField.Name(algorithm.headerName)!] = value
            headers[checksumType] = value.contains("-") ? "COMPOSITE" : "FULL_OBJECT"
        }
    }

    /// `x-amz-meta-*` headers, names lowercased without the prefix, as S3 stores them.
    static func userMetadata(_ headers: HTTPFields) -> [String: String] {
        var metadata: [String: String] = [:]
        for field in headers {
            let name = field.name.canonicalName
            guard name.hasPrefix(userMetadataPrefix), name.count > userMetadataPrefix.count else { continue }
            let short = String(name.dropFirst(userMetadataPrefix.count))
            metadata[short] = metadata[short].map { $0 + "," + field.value } ?? field.value
        }
        return metadata
    }
}

/// A request body that reports its bytes to the metrics as they pass.
struct CountingBody<Base: AsyncSequence & Sendable>: AsyncSequence, Sendable where Base.Element == ByteBuffer {
    let body: Base
    let onBytes: @Sendable (Int) -> Void

    struct AsyncIterator: AsyncIteratorProtocol {
        var base: Base.AsyncIterator
        let onBytes: @Sendable (Int) -> Void
        mutating func next() async throws -> ByteBuffer? {
            guard let buffer = try await base.next() else { return nil }
            onBytes(buffer.readableBytes)
            return buffer
        }
    }

    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(base: body.makeAsyncIterator(), onBytes: onBytes) }
}
