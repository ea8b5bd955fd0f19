import Foundation

/// The body of ListMultipartUploads: `<ListMultipartUploadsResult>`.
package struct ListMultipartUploadsResult: Sendable {
    package struct Upload: Sendable, Equatable {
        package var key: String
        package var uploadID: String
        package var initiated: Date

        package init(key: String, uploadID: String, initiated: Date) {
            self.key = key
            self.uploadID = uploadID
            self.initiated = initiated
        }
    }

    package var bucket: String
    package var prefix: String
    package var keyMarker: String
    package var uploadIDMarker: String
    package var maxUploads: Int
    package var isTruncated: Bool
    package var uploads: [Upload]
    package var ownerID: String
    /// `encoding-type=url`: keys, prefix and markers are percent-encoded.
    package var urlEncoded: Bool

    package init(bucket: String, prefix: String = "", keyMarker: String = "", uploadIDMarker: String = "",
                maxUploads: Int = 1000, isTruncated: Bool = false, uploads: [Upload] = [], ownerID: String,
                urlEncoded: Bool = false) {
        self.bucket = bucket
        self.prefix = prefix
        self.keyMarker = keyMarker
        self.uploadIDMarker = uploadIDMarker
        self.maxUploads = maxUploads
        self.isTruncated = isTruncated
        self.uploads = uploads
        self.ownerID = ownerID
        self.urlEncoded = urlEncoded
    }

    /// Element order follows S3's responses. The next markers name the last upload listed; clients resume
    /// from them when `IsTruncated` is true.
    package func xml() -> String {
        var writer = XMLWriter()
        writer.element("ListMultipartUploadsResult", attributes: [("xmlns", XMLWriter.s3Namespace)]) { writer in
            writer.element("Bucket", bucket)
            writer.element("KeyMarker", encode(keyMarker))
            writer.element("UploadIdMarker", uploadIDMarker)
            writer.element("NextKeyMarker", encode(uploads.last?.key ?? ""))
            writer.element("NextUploadIdMarker", uploads.last?.uploadID ?? "")
            if urlEncoded { writer.element("EncodingType", "url") }
            writer.element("Prefix", encode(prefix))
            writer.element("MaxUploads", Int64(maxUploads))
            writer.element("IsTruncated", isTruncated)
            for upload in uploads {
                writer.element("Upload") { writer in
                    writer.element("Key", encode(upload.key))
                    writer.element("UploadId", upload.uploadID)
                    writer.writeOwner("Initiator", id: ownerID)
                    writer.writeOwner("Owner", id: ownerID)
                    writer.element("StorageClass", "STANDARD")
                    writer.element("Initiated", S3Timestamp.format(upload.initiated))
                }
            }
        }
        return writer.output
    }

    private func encode(_ text: String) -> String {
        urlEncoded ? PercentEncoding.encode(text, keepSlash: true) : text
    }
}
