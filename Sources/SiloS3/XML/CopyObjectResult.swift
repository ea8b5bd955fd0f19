import Foundation

/// The body of CopyObject (`<CopyObjectResult>`) and of UploadPartCopy (`<CopyPartResult>`, same fields).
package struct CopyObjectResult: Sendable {
    package var lastModified: Date
    /// Without quotes; quoted on output.
    package var etag: String
    /// True for UploadPartCopy, whose root element is `CopyPartResult`.
    package var isPart: Bool

    package init(lastModified: Date, etag: String, isPart: Bool = false) {
        self.lastModified = lastModified
        self.etag = etag
        self.isPart = isPart
    }

    package func xml() -> String {
        var writer = XMLWriter()
        writer.element(isPart ? "CopyPartResult" : "CopyObjectResult",
                       attributes: [("xmlns", XMLWriter.s3Namespace)]) { writer in
            writer.element("LastModified", S3Timestamp.format(lastModified))
            writer.element("ETag", S3ObjectSummary.quoted(etag))
        }
        return writer.output
    }
}
