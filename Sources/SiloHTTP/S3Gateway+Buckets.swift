import SiloGateway
import SiloS3
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import SiloCore
import SiloMetadata

extension S3Gateway {
    /// One owner: Silo's access keys all share the buckets.
    static let ownerID = "silo"

    func listBuckets() async throws -> Response {
        let buckets = try await store.listBuckets()
        let result = ListAllMyBucketsResult(
            ownerID: Self.ownerID, ownerDisplayName: Self.ownerID,
            buckets: buckets.map { .init(name: $0.name.value, creationDate: $0.createdAt) })
        return Self.xmlResponse(result.xml())
    }

    func createBucket(_ bucket: BucketName) async throws -> Response {
        // The body (CreateBucketConfiguration with a LocationConstraint) is not needed: one region.
        try await store.createBucket(bucket)
        var headers = HTTPFields()
        headers[.location] = "/" + bucket.value
        headers[.contentLength] = "0"
        return Response(status: .ok, headers: headers)
    }

    func headBucket(_ bucket: BucketName) async throws -> Response {
        guard try await store.bucketExists(bucket) else { throw MetadataError.noSuchBucket(bucket) }
        var headers = HTTPFields()
        headers[HTTPField.Name("x-amz-bucket-region")!] = "us-east-1"
        return Response(status: .ok, headers: headers)
    }

    func deleteBucket(_ bucket: BucketName) async throws -> Response {
        try await store.deleteBucket(bucket)
        return Response(status: .noContent)
    }

    func bucketLocation(_ bucket: BucketName) async throws -> Response {
        guard try await store.bucketExists(bucket) else { throw MetadataError.noSuchBucket(bucket) }
        // us-east-1 is the empty LocationConstraint, as S3 answers it.
        var writer = XMLWriter()
        writer.element("LocationConstraint", attributes: [("xmlns", XMLWriter.s3Namespace)]) { _ in }
        return Self.xmlResponse(writer.output)
    }

    /// ListObjectsV2 and ListObjects (v1, `marker` as the key to start after).
    func listObjects(_ bucket: BucketName, version: Int, _ request: S3Request) async throws -> Response {
        let query = request.query
        var maxKeys = limits.listKeysMax
        if let text = query["max-keys"] {
            guard let value = Int(text), value >= 0 else {
                throw S3Error(.invalidArgument, message: "Provided max-keys not an integer or within integer range")
            }
            maxKeys = min(value, limits.listKeysMax)
        }
        let urlEncoded: Bool
        switch query["encoding-type"] {
        case nil: urlEncoded = false
        case "url": urlEncoded = true
        case let other?: throw S3Error(.invalidArgument, message: "Invalid Encoding Method specified in Request: \(other)")
        }
        let delimiter = query["delimiter"].flatMap { $0.isEmpty ? nil : $0 }
        let prefix = query["prefix"] ?? ""
        let listing: ListObjectsRequest
        if version == 2 {
            if let token = query["continuation-token"], token.isEmpty {
                throw S3Error(.invalidArgument, message: "The continuation token provided is incorrect")
            }
            listing = ListObjectsRequest(prefix: prefix, delimiter: delimiter, startAfter: query["start-after"],
                                         continuationToken: query["continuation-token"], maxKeys: maxKeys)
        } else {
            listing = ListObjectsRequest(prefix: prefix, delimiter: delimiter, startAfter: query["marker"], maxKeys: maxKeys)
        }
        let page: ListObjectsPage
        if maxKeys == 0 {
            guard try await store.bucketExists(bucket) else { throw MetadataError.noSuchBucket(bucket) }
            page = ListObjectsPage()
        } else {
            page = try await store.listObjects(bucket: bucket, listing)
        }
        let contents = page.objects.map {
            S3ObjectSummary(key: $0.key.value, lastModified: $0.lastModified, etag: $0.etag, size: $0.size.bytes)
        }
        let resultVersion: ListBucketResult.Version
        if version == 2 {
            resultVersion = .v2(continuationToken: query["continuation-token"],
                                nextContinuationToken: page.nextContinuationToken, startAfter: query["start-after"])
        } else {
            // v1 clients resume from NextMarker (sent with a delimiter) or from the last key they saw.
            let last = [page.objects.last?.key.value, page.commonPrefixes.last].compactMap { $0 }.max {
                $0.utf8.lexicographicallyPrecedes($1.utf8)
            }
            resultVersion = .v1(marker: query["marker"] ?? "",
                                nextMarker: page.isTruncated && delimiter != nil ? last : nil)
        }
        let result = ListBucketResult(
            bucket: bucket.value, prefix: prefix, delimiter: delimiter, maxKeys: maxKeys,
            isTruncated: page.isTruncated, contents: contents, commonPrefixes: page.commonPrefixes,
            version: resultVersion, urlEncoded: urlEncoded)
        return Self.xmlResponse(result.xml())
    }

    static func xmlResponse(_ xml: String, status: HTTPResponse.Status = .ok) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/xml"
        let buffer = ByteBuffer(string: xml)
        headers[.contentLength] = String(buffer.readableBytes)
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: buffer))
    }
}
