/// The body of ListObjectsV2 and ListObjects (v1): `<ListBucketResult>`.
package struct ListBucketResult: Sendable {
    /// The fields in which the two versions differ.
    package enum Version: Sendable {
        /// ListObjects: `marker` echoes the request; `nextMarker` is sent only with a delimiter, as S3 does.
        case v1(marker: String, nextMarker: String?)
        /// ListObjectsV2.
        case v2(continuationToken: String?, nextContinuationToken: String?, startAfter: String?)
    }

    package var bucket: String
    package var prefix: String
    package var delimiter: String?
    package var maxKeys: Int
    package var isTruncated: Bool
    package var contents: [S3ObjectSummary]
    package var commonPrefixes: [String]
    package var version: Version
    /// `encoding-type=url` was asked for: keys, prefixes, delimiter and markers are percent-encoded, so
    /// keys with characters XML 1.0 cannot carry still list.
    package var urlEncoded: Bool

    package init(bucket: String, prefix: String = "", delimiter: String? = nil, maxKeys: Int = 1000,
                isTruncated: Bool = false, contents: [S3ObjectSummary] = [], commonPrefixes: [String] = [],
                version: Version, urlEncoded: Bool = false) {
        self.bucket = bucket
        self.prefix = prefix
        self.delimiter = delimiter
        self.maxKeys = maxKeys
        self.isTruncated = isTruncated
        self.contents = contents
        self.commonPrefixes = commonPrefixes
        self.version = version
        self.urlEncoded = urlEncoded
    }

    /// Element order follows S3's responses.
    package func xml() -> String {
        var writer = XMLWriter()
        writer.element("ListBucketResult", attributes: [("xmlns", XMLWriter.s3Namespace)]) { writer in
            writer.element("Name", bucket)
            writer.element("Prefix", encode(prefix))
            switch version {
            case .v1(let marker, let nextMarker):
                writer.element("Marker", encode(marker))
                writer.element("NextMarker", ifPresent: nextMarker.map(encode))
                writer.element("MaxKeys", Int64(maxKeys))
            case .v2(let continuationToken, let nextContinuationToken, let startAfter):
                writer.element("StartAfter", ifPresent: startAfter.map(encode))
                writer.element("ContinuationToken", ifPresent: continuationToken)
                writer.element("NextContinuationToken", ifPresent: nextContinuationToken)
                writer.element("KeyCount", Int64(contents.count + commonPrefixes.count))
                writer.element("MaxKeys", Int64(maxKeys))
            }
            writer.element("Delimiter", ifPresent: delimiter.map(encode))
            if urlEncoded { writer.element("EncodingType", "url") }
            writer.element("IsTruncated", isTruncated)
            for object in contents {
                writer.element("Contents") { writer in
                    writer.element("Key", encode(object.key))
                    writer.element("LastModified", S3Timestamp.format(object.lastModified))
                    writer.element("ETag", S3ObjectSummary.quoted(object.etag))
                    writer.element("Size", object.size)
                    writer.element("StorageClass", object.storageClass)
                }
            }
            for commonPrefix in commonPrefixes {
                writer.element("CommonPrefixes") { writer in writer.element("Prefix", encode(commonPrefix)) }
            }
        }
        return writer.output
    }

    /// S3's `url` encoding keeps `/` and escapes the rest as in a query; `+` becomes `%2B` because SDKs
    /// decode with form rules, where a bare `+` is a space.
    private func encode(_ text: String) -> String {
        urlEncoded ? PercentEncoding.encode(text, keepSlash: true) : text
    }
}
