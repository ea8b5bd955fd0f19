/// The body of CompleteMultipartUpload: where the object is and its multipart ETag.
package struct CompleteMultipartUploadResult: Sendable {
    /// The object's URL, `http://host/bucket/key` for path-style requests.
    package var location: String
    package var bucket: String
    package var key: String
    /// Without quotes (`…-3`); quoted on output.
    package var etag: String

    package init(location: String, bucket: String, key: String, etag: String) {
        self.location = location
        self.bucket = bucket
        self.key = key
        self.etag = etag
    }

    package func xml() -> String {
        var writer = XMLWriter()
        writer.element("CompleteMultipartUploadResult", attributes: [("xmlns", XMLWriter.s3Namespace)]) { writer in
            writer.element("Location", location)
            writer.element("Bucket", bucket)
            writer.element("Key", key)
            writer.element("ETag", S3ObjectSummary.quoted(etag))
        }
        return writer.output
    }
}
