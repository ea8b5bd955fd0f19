import Foundation

/// The body of ListParts: `<ListPartsResult>`.
package struct ListPartsResult: Sendable {
    package struct Part: Sendable, Equatable {
        package var partNumber: Int
        package var lastModified: Date
        /// Without quotes; quoted on output.
        package var etag: String
        package var size: Int64

        package init(partNumber: Int, lastModified: Date, etag: String, size: Int64) {
            self.partNumber = partNumber
            self.lastModified = lastModified
            self.etag = etag
            self.size = size
        }
    }

    package var bucket: String
    package var key: String
    package var uploadID: String
    package var partNumberMarker: Int
    package var maxParts: Int
    package var isTruncated: Bool
    package var parts: [Part]
    /// The owner (and initiator): Silo's access keys all share one.
    package var ownerID: String
    /// `encoding-type=url`: the key is percent-encoded.
    package var urlEncoded: Bool

    package init(bucket: String, key: String, uploadID: String, partNumberMarker: Int = 0, maxParts: Int = 1000,
                isTruncated: Bool = false, parts: [Part] = [], ownerID: String, urlEncoded: Bool = false) {
        self.bucket = bucket
        self.key = key
        self.uploadID = uploadID
        self.partNumberMarker = partNumberMarker
        self.maxParts = maxParts
        self.isTruncated = isTruncated
        self.parts = parts
        self.ownerID = ownerID
        self.urlEncoded = urlEncoded
    }

    /// Element order follows S3's responses. `NextPartNumberMarker` is the last part listed (the marker
    /// itself when none is).
    package func xml() -> String {
        var writer = XMLWriter()
        writer.element("ListPartsResult", attributes: [("xmlns", XMLWriter.s3Namespace)]) { writer in
            writer.element("Bucket", bucket)
            writer.element("Key", urlEncoded ? PercentEncoding.encode(key, keepSlash: true) : key)
            writer.element("UploadId", uploadID)
            if urlEncoded { writer.element("EncodingType", "url") }
            writer.writeOwner("Initiator", id: ownerID)
            writer.writeOwner("Owner", id: ownerID)
            writer.element("StorageClass", "STANDARD")
            writer.element("PartNumberMarker", Int64(partNumberMarker))
            writer.element("NextPartNumberMarker", Int64(parts.last?.partNumber ?? partNumberMarker))
            writer.element("MaxParts", Int64(maxParts))
            writer.element("IsTruncated", isTruncated)
            for part in parts {
                writer.element("Part") { writer in
                    writer.element("PartNumber", Int64(part.partNumber))
                    writer.element("LastModified", S3Timestamp.format(part.lastModified))
                    writer.element("ETag", S3ObjectSummary.quoted(part.etag))
                    writer.element("Size", part.size)
                }
            }
        }
        return writer.output
    }
}

extension XMLWriter {
    /// `<Owner>` or `<Initiator>`: an id and a display name.
    mutating func writeOwner(_ name: String, id: String) {
        element(name) { writer in
            writer.element("ID", id)
            writer.element("DisplayName", id)
        }
    }
}
