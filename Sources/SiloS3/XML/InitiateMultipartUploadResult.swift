/// The body of CreateMultipartUpload: the upload id the parts and the completion will name.
public struct InitiateMultipartUploadResult: Sendable {
    public var bucket: String
    public var key: String
    public var uploadID: String

    public init(bucket: String, key: String, uploadID: String) {
        self.bucket = bucket
        self.key = key
        self.uploadID = uploadID
    }

    public func xml() -> String {
        var writer = XMLWriter()
        writer.element("InitiateMultipartUploadResult", attributes: [("xmlns", XMLWriter.s3Namespace)]) { writer in
            writer.element("Bucket", bucket)
            writer.element("Key", key)
            writer.element("UploadId", uploadID)
        }
        return writer.output
    }
}
