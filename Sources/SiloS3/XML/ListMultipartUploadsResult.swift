import Foundation

/// The body of ListMultipartUploads: `<ListMultipartUploadsResult>`.
public struct ListMultipartUploadsResult: Sendable {
    public struct Upload: Sendable, Equatable {
        public var key: String
        public var uploadID: String
        public var initiated: Date

        public init(key: String, uploadID: String, initiated: Date) {
            self.key = key
            self.uploadID = uploadID
            self.initiated = initiated
        }
    }

    public var bucket: String
    public var prefix: String
    public var keyMarker: String
    public var uploadIDMarker: String
    public var maxUploads: Int
    public var isTruncated: Bool
    public var uploads: [Upload]
    public var ownerID: String
    /// `encoding-type=url`: keys, prefix and markers are percent-encoded.
    public var urlEncoded: Bool

    public init(bucket: String, prefix: String = "", keyMarker: String = "", uploadIDMarker: String = "",
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
    public func xml() -> String {
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
