import Foundation

/// One object in a listing: what `<Contents>` says about it.
package struct S3ObjectSummary: Sendable, Equatable {
    package var key: String
    package var lastModified: Date
    /// The ETag without quotes (`d41d8cd98f00b204e9800998ecf8427e`, or `…-3` for multipart); quoted on output.
    package var etag: String
    package var size: Int64
    package var storageClass: String

    package init(key: String, lastModified: Date, etag: String, size: Int64, storageClass: String = "STANDARD") {
        self.key = key
        self.lastModified = lastModified
        self.etag = etag
        self.size = size
        self.storageClass = storageClass
    }

    /// S3 sends ETags quoted, in XML as in headers.
    static func quoted(_ etag: String) -> String { "\"" + etag + "\"" }
}
