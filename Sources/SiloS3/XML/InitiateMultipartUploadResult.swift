/// The body of CreateMultipartUpload: the upload id the parts and the completion will name.
package struct InitiateMultipartUploadResult: Sendable {
    package var bucket: String
    package var key: String
    package var uploadID: String

    package init(bucket: String, key: String, uploadID: String) {
        self.bucket = bucket
        self.key = key
        self.uploadID = uploadID
    }

    package func xml() -> String {
        var writer = XMLWriter()
        writer.element("InitiateMultipartUploadResult", attributes: [("xmlns", XMLWriter.s3Namespace)]) { writer in
            writer.element("Bucket", bucket)
            writer.element("Key", key)
            writer.element("UploadId", uploadID)
        }
        return writer.output
    }
}
